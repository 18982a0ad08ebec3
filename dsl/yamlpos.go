package dsl

import (
	"fmt"
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

// misindented scans the raw text for the first line at or after from whose
// indentation breaks the block structure: a line indented deeper than a line
// that already holds a value, or a line whose indentation matches no
// enclosing block. It returns that line, its column and a message.
func (f *File) misindented(from int) (int, int, string, bool) {
	stack := []int{0} // indentation of the open blocks
	opens := true     // the line above opens a nested block
	scalarAt := -1    // inside a block scalar of a key at this indentation
	depth := 0        // open { [ spanning lines
	for l := 1; l <= len(f.lines); l++ {
		raw := strings.TrimRight(f.lines[l-1], " \r")
		t := strings.TrimLeft(raw, " ")
		if t == "" || strings.HasPrefix(t, "#") || strings.HasPrefix(t, "\t") {
			continue
		}
		i := len(raw) - len(t)
		if scalarAt >= 0 {
			if i > scalarAt {
				continue
			}
			scalarAt = -1
		}
		if depth > 0 {
			depth += bracketDepth(t)
			continue
		}
		top := stack[len(stack)-1]
		switch {
		case i > top && !opens:
			if l >= from {
				return l, i + 1, "this line is indented deeper than the line above, which already has a value: align it with its siblings", true
			}
			stack = append(stack, i)
		case i > top:
			stack = append(stack, i)
		case i < top:
			above := top
			for len(stack) > 1 && stack[len(stack)-1] > i {
				above = stack[len(stack)-1]
				stack = stack[:len(stack)-1]
			}
			if top2 := stack[len(stack)-1]; top2 != i && l >= from {
				return l, i + 1, fmt.Sprintf("this line is indented %d spaces, which matches no enclosing block: the lines around it use %d or %d", i, top2, above), true
			}
		}
		// What this line opens for the next one.
		body := t
		ind := i
		for strings.HasPrefix(body, "- ") || body == "-" {
			// a sequence item: its content is a block one level in
			body = strings.TrimLeft(strings.TrimPrefix(body, "-"), " ")
			ind = len(raw) - len(body)
			if stack[len(stack)-1] < ind && body != "" {
				stack = append(stack, ind)
			}
		}
		val := valueAfterKey(body)
		switch {
		case body == "" || val == "":
			opens = true
		case strings.HasPrefix(val, "|") || strings.HasPrefix(val, ">"):
			scalarAt = ind
			opens = false
		case strings.HasPrefix(val, "&") && !strings.Contains(val, " "):
			opens = true
		default:
			opens = false
			depth = bracketDepth(val)
		}
	}
	return 0, 0, "", false
}

// valueAfterKey returns what follows `key:` on a line (trimmed, comment
// removed), or the whole line when it holds no key.
func valueAfterKey(s string) string {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case (c == '"' || c == '\'') && i == 0:
			quote = c
		case c == '{' || c == '[':
			if i == 0 {
				return s
			}
		case c == ':' && (i+1 == len(s) || s[i+1] == ' '):
			return stripComment(strings.TrimSpace(s[i+1:]))
		}
	}
	return stripComment(s)
}

func stripComment(s string) string {
	if strings.HasPrefix(s, "#") {
		return ""
	}
	if i := strings.Index(s, " #"); i >= 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}

// bracketDepth counts { and [ opened minus closed on s, outside quotes.
func bracketDepth(s string) int {
	d := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			if i == 0 || strings.ContainsRune(" {[,:", rune(s[i-1])) {
				quote = c
			}
		case c == '#' && (i == 0 || s[i-1] == ' '):
			return d
		case c == '{' || c == '[':
			d++
		case c == '}' || c == ']':
			d--
		}
	}
	if d < 0 {
		return 0
	}
	return d
}
