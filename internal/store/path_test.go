package store

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	cases := []struct {
		path    string
		want    []Segment
		wantErr string // substring; "" means success
		offset  int
	}{
		{"", nil, "", 0},
		{"a", []Segment{"a"}, "", 0},
		{"a.b.0.c", []Segment{"a", "b", "0", "c"}, "", 0},
		{"pageSignals.page-3", []Segment{"pageSignals", "page-3"}, "", 0},
		{`user["a.b"]`, []Segment{"user", "a.b"}, "", 0},
		{`a['x']`, []Segment{"a", "x"}, "", 0},
		{`["x.y"].z`, []Segment{"x.y", "z"}, "", 0},
		{`a[0]`, []Segment{"a", "0"}, "", 0},
		{`a[0][1].b`, []Segment{"a", "0", "1", "b"}, "", 0},
		{`a["q\"uote"]`, []Segment{"a", `q"uote`}, "", 0},
		{`a['it\'s']`, []Segment{"a", "it's"}, "", 0},
		{`a[""]`, []Segment{"a", ""}, "", 0},
		{"héllo.wörld", []Segment{"héllo", "wörld"}, "", 0},
		{"a..b", nil, "empty segment", 2},
		{".a", nil, "empty segment", 0},
		{"a.", nil, "path ends with a dot", 2},
		{"a b", nil, `character ' '`, 1},
		{`a["x"`, nil, "expected ']'", 5},
		{`a["x`, nil, "unterminated quoted key", 1},
		{`a[`, nil, "unclosed '['", 1},
		{`a[x]`, nil, "a bracket holds an index", 2},
		{`a[01]`, nil, "not a valid array index", 2},
		{`a["x"]b`, nil, "expected '.' or '['", 6},
		{`a]`, nil, `character ']'`, 1},
		{`a"b`, nil, `character '"'`, 1},
		{strings.Repeat("a", MaxPathBytes+1), nil, "longer than", MaxPathBytes},
	}
	for _, c := range cases {
		got, err := ParsePath(c.path)
		if c.wantErr == "" {
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Errorf("ParsePath(%q) = %q, %v; want %q", c.path, got, err, c.want)
			}
			continue
		}
		var pe *PathError
		if !errors.As(err, &pe) || !errors.Is(err, ErrPath) || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("ParsePath(%q) err = %v, want a *PathError containing %q", c.path, err, c.wantErr)
			continue
		}
		if pe.Offset != c.offset || pe.Path != c.path {
			t.Errorf("ParsePath(%q) error at offset %d, want %d", c.path, pe.Offset, c.offset)
		}
	}
}

func TestFormatPathRoundTrip(t *testing.T) {
	for _, segs := range [][]Segment{{"a"}, {"a.b", "c"}, {"", "x"}, {`q"\`, "0"}, {"a b", "]["}} {
		p := FormatPath(segs)
		got, err := ParsePath(p)
		if err != nil || !reflect.DeepEqual(got, segs) {
			t.Errorf("FormatPath(%q) = %q, parses to %q, %v", segs, p, got, err)
		}
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"", "a.b.0.c", `a["x.y"]`, `a['x']`, `a[0][1]`, `a["q\"u"]`, "a..b", `["x"]`, "a.", `a[`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		segs, err := ParsePath(path)
		if err != nil {
			var pe *PathError
			if !errors.As(err, &pe) || pe.Offset < 0 || pe.Offset > len(path) {
				t.Fatalf("ParsePath(%q): error %v has a bad offset", path, err)
			}
			return
		}
		again, err := ParsePath(FormatPath(segs))
		if err != nil {
			t.Fatalf("FormatPath(%q) = %q does not parse: %v", segs, FormatPath(segs), err)
		}
		if len(segs) == 0 && len(again) == 0 {
			return
		}
		if !reflect.DeepEqual(again, segs) {
			t.Fatalf("ParsePath(%q) = %q, re-rendered %q parses to %q", path, segs, FormatPath(segs), again)
		}
	})
}
