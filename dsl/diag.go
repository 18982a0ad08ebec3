package dsl

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"
)

// Severity of a diagnostic.
type Severity string

// Severities.
const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// Diagnostic is one problem found in a flow file.
type Diagnostic struct {
	Pos      Pos      `json:"pos"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
}

// String renders the diagnostic GNU style: `file:line:col: message`, with
// "warning: " before the message of a warning.
func (d Diagnostic) String() string {
	if d.Severity == Warning {
		return fmt.Sprintf("%s: warning: %s", d.Pos, d.Message)
	}
	return fmt.Sprintf("%s: %s", d.Pos, d.Message)
}

// Diagnostics is a list of diagnostics, sorted by position once Sort is
// called (Load returns them sorted).
type Diagnostics []Diagnostic

// Sort orders the diagnostics by position, then message, and drops exact
// duplicates.
func (ds *Diagnostics) Sort() {
	l := *ds
	sort.SliceStable(l, func(i, j int) bool {
		if l[i].Pos != l[j].Pos {
			return l[i].Pos.Before(l[j].Pos)
		}
		return l[i].Message < l[j].Message
	})
	out := l[:0]
	for i, d := range l {
		if i > 0 && d == l[i-1] {
			continue
		}
		out = append(out, d)
	}
	*ds = out
}

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity != Warning {
			return true
		}
	}
	return false
}

// Errors returns only the errors.
func (ds Diagnostics) Errors() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity != Warning {
			out = append(out, d)
		}
	}
	return out
}

// Err returns the diagnostics as an error when any of them is an error,
// else nil.
func (ds Diagnostics) Err() error {
	if !ds.HasErrors() {
		return nil
	}
	return ds
}

// Error lists the diagnostics one per line.
func (ds Diagnostics) Error() string {
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// AsDiagnostics extracts Diagnostics from err (as returned by Err).
func AsDiagnostics(err error) (Diagnostics, bool) {
	var ds Diagnostics
	ok := errors.As(err, &ds)
	return ds, ok
}

// Render writes each diagnostic GNU style, followed by its source line and
// a caret under the column when sources holds the file's content.
func (ds Diagnostics) Render(w io.Writer, sources map[string][]byte) error {
	for _, d := range ds {
		if _, err := fmt.Fprintln(w, d.String()); err != nil {
			return err
		}
		line, ok := sourceLine(sources[d.Pos.File], d.Pos.Line)
		if !ok {
			continue
		}
		line = strings.ReplaceAll(line, "\t", " ")
		col := d.Pos.Col
		if n := utf8.RuneCountInString(line); col > n+1 {
			col = n + 1
		}
		if col < 1 {
			col = 1
		}
		if _, err := fmt.Fprintf(w, "  %s\n  %s^\n", line, strings.Repeat(" ", col-1)); err != nil {
			return err
		}
	}
	return nil
}

func sourceLine(src []byte, n int) (string, bool) {
	if src == nil || n < 1 {
		return "", false
	}
	lines := strings.Split(string(src), "\n")
	if n > len(lines) {
		return "", false
	}
	return strings.TrimRight(lines[n-1], "\r"), true
}
