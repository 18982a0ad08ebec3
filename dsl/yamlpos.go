package dsl

import (
	"strings"
	"unicode/utf8"
)

// This file places YAML syntax errors on the line that broke the structure
// and names the usual mistake. It is used only when the YAML parser reports
// a syntax error.

// elseIf finds a `else if:` (or `elif:`, `else-if:`) key on one of the few
// lines up to line, and returns its line and column.
func (f *File) elseIf(line int) (int, int, bool) {
	for l := line; l >= 1 && l > line-4 && l <= len(f.lines); l-- {
		t := strings.TrimLeft(f.lines[l-1], " ")
		t = strings.TrimPrefix(t, "- ")
		indent := len(f.lines[l-1]) - len(t)
		for _, k := range []string{"else if:", "else-if:", "elseif:", "elif:", "else if :"} {
			if strings.HasPrefix(t, k) {
				return l, utf8.RuneCountInString(f.lines[l-1][:indent]) + 1, true
			}
		}
	}
	return 0, 0, false
}

// unclosedQuote finds the nearest line at or before line on which a quoted
// value opens and is not closed, and returns its line, the column of the
// quote and the quote character.
func (f *File) unclosedQuote(line int) (int, int, byte, bool) {
	if line > len(f.lines) {
		line = len(f.lines)
	}
	for l := line; l >= 1; l-- {
		if i, q := openQuote(f.lines[l-1]); i >= 0 {
			return l, utf8.RuneCountInString(f.lines[l-1][:i]) + 1, q, true
		}
	}
	return 0, 0, 0, false
}

// openQuote returns the byte offset and character of a quote that starts a
// quoted value on line and is not closed on it, or -1. A quote inside a
// plain value (it's) starts nothing.
func openQuote(line string) (int, byte) {
	start := true // at a place where a value may start
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case (c == '"' || c == '\'') && start:
			j := i + 1
			for ; j < len(line); j++ {
				if c == '"' && line[j] == '\\' {
					j++
					continue
				}
				if line[j] == c {
					if c == '\'' && j+1 < len(line) && line[j+1] == '\'' {
						j++
						continue
					}
					break
				}
			}
			if j >= len(line) {
				return i, c
			}
			i = j
			start = false
		case c == '#' && (i == 0 || line[i-1] == ' '):
			return -1, 0
		case c == ' ':
			// keep start as is
		case c == '{' || c == '[' || c == ',':
			start = true
		case (c == ':' || c == '-') && (i+1 == len(line) || line[i+1] == ' '):
			start = true
		default:
			start = false
		}
	}
	return -1, 0
}

// quoteName names a quote character for a message.
func quoteName(q byte) string {
	if q == '\'' {
		return "single quote (')"
	}
	return `double quote (")`
}
