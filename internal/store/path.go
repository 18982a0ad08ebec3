package store

import (
	"fmt"
	"strconv"
	"strings"
)

// Segment is one step of a parsed path: an object key, or an array index
// when the segment is a decimal number and the container is an array.
type Segment string

// Index reports the segment as an array index: a non-negative decimal
// integer without sign or leading zeros.
func (s Segment) Index() (int, bool) {
	if s == "" || len(s) > 9 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// PathError reports a malformed path and the byte offset where it goes wrong.
type PathError struct {
	Path   string
	Offset int
	Msg    string
}

func (e *PathError) Error() string {
	return fmt.Sprintf("invalid path %q at offset %d: %s", e.Path, e.Offset, e.Msg)
}

func (e *PathError) Unwrap() error { return ErrPath }

// MaxPathBytes bounds the length of a path.
const MaxPathBytes = 1024

// ParsePath splits a path into segments. Paths are dotted (`a.b.0.c`); a key
// holding a dot or other special characters is written in brackets with
// quotes (`a["x.y"]`, `a['x']`, backslash escapes the quote), and `a[0]` is
// the same as `a.0`. The empty path means the whole document (no segments).
func ParsePath(path string) ([]Segment, error) {
	if path == "" {
		return nil, nil
	}
	fail := func(off int, format string, args ...any) ([]Segment, error) {
		return nil, &PathError{Path: path, Offset: off, Msg: fmt.Sprintf(format, args...)}
	}
	if len(path) > MaxPathBytes {
		return fail(MaxPathBytes, "longer than %d bytes", MaxPathBytes)
	}
	var segs []Segment
	i := 0
	expectSeg := true // at the start or right after a dot
	for i < len(path) {
		c := path[i]
		switch {
		case c == '[':
			seg, n, err := parseBracket(path, i)
			if err != nil {
				return nil, err
			}
			segs = append(segs, seg)
			i = n
			expectSeg = false
		case c == '.':
			if expectSeg {
				return fail(i, "empty segment")
			}
			i++
			expectSeg = true
			if i == len(path) {
				return fail(i, "path ends with a dot")
			}
		default:
			if !expectSeg {
				return fail(i, "expected '.' or '[' after a bracket key, found %q", c)
			}
			start := i
			for i < len(path) && path[i] != '.' && path[i] != '[' {
				if !bareByte(path[i]) {
					return fail(i, "character %q must be written in a bracket key like [\"...\"]", path[i])
				}
				i++
			}
			segs = append(segs, Segment(path[start:i]))
			expectSeg = false
		}
	}
	return segs, nil
}

// bareByte reports whether b may appear in an unquoted segment.
func bareByte(b byte) bool {
	switch b {
	case '.', '[', ']', '"', '\'', '\\':
		return false
	}
	return b > ' ' && b != 0x7f
}

// parseBracket parses `[0]`, `["key"]` or `['key']` at path[i] and returns the
// segment and the offset after the closing bracket.
func parseBracket(path string, i int) (Segment, int, error) {
	fail := func(off int, format string, args ...any) (Segment, int, error) {
		return "", 0, &PathError{Path: path, Offset: off, Msg: fmt.Sprintf(format, args...)}
	}
	open := i
	i++
	if i >= len(path) {
		return fail(open, "unclosed '['")
	}
	q := path[i]
	if q != '"' && q != '\'' {
		start := i
		for i < len(path) && path[i] >= '0' && path[i] <= '9' {
			i++
		}
		if i == start || i >= len(path) || path[i] != ']' {
			return fail(start, "a bracket holds an index like [0] or a quoted key like [\"a.b\"]")
		}
		seg := Segment(path[start:i])
		if _, ok := seg.Index(); !ok {
			return fail(start, "index %s is not a valid array index", seg)
		}
		return seg, i + 1, nil
	}
	i++
	var b strings.Builder
	for {
		if i >= len(path) {
			return fail(open, "unterminated quoted key")
		}
		c := path[i]
		if c == '\\' {
			if i+1 >= len(path) {
				return fail(i, "unterminated escape")
			}
			b.WriteByte(path[i+1])
			i += 2
			continue
		}
		if c == q {
			i++
			break
		}
		b.WriteByte(c)
		i++
	}
	if i >= len(path) || path[i] != ']' {
		return fail(i, "expected ']' after quoted key")
	}
	return Segment(b.String()), i + 1, nil
}

// FormatPath renders segments as a path that ParsePath reads back to the same
// segments: bare keys dotted, other keys in brackets with double quotes.
func FormatPath(segs []Segment) string {
	var b strings.Builder
	for i, s := range segs {
		if isBare(string(s)) {
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(string(s))
			continue
		}
		b.WriteString(`["`)
		for j := 0; j < len(s); j++ {
			if s[j] == '"' || s[j] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(s[j])
		}
		b.WriteString(`"]`)
	}
	return b.String()
}

func isBare(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !bareByte(s[i]) {
			return false
		}
	}
	return true
}

// quotePath is the path as it appears in messages.
func quotePath(segs []Segment) string { return strconv.Quote(FormatPath(segs)) }
