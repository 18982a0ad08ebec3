package dsl

import (
	"strings"
	"testing"
)

// TestPosAt pins the position of an offset inside a scalar for each YAML
// scalar style: the position of the marked text `X` in the source.
func TestPosAt(t *testing.T) {
	cases := []struct {
		name, src string
		exact     bool // false: the node's start is expected
	}{
		{"plain", "k: ab ${ X }", true},
		{"plain-folded", "k: ab\n  cd ${ X }", true},
		{"single", "k: 'it''s ${ X }'", true},
		{"double", `k: "a\"b\u00e9 ${ X }"`, true},
		{"double-folded", "k: \"ab\n  cd ${ X }\"", true},
		{"literal", "k: |\n  line one\n    ${ X }\n", true},
		{"literal-keep", "k: |+\n\n  x\n  ${ X }\n", true},
		{"folded", "k: >\n  a\n  ${ X }\n", false},
		{"unicode", "k: \"é—${ X }\"", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, ds := Parse("f.yaml", []byte(c.src))
			if ds.HasErrors() {
				t.Fatal(ds.Error())
			}
			v, _ := f.Root.Get("k")
			off := strings.Index(v.Text(), "X")
			if off < 0 {
				t.Fatalf("value %q has no X", v.Text())
			}
			got := v.PosAt(off)
			want := v.Pos()
			if c.exact {
				want = markPos(c.src)
			}
			if got != want {
				t.Fatalf("PosAt(%d) in %q = %v, want %v", off, v.Text(), got, want)
			}
		})
	}
}

// markPos finds X in the source: line and rune column.
func markPos(src string) Pos {
	for i, l := range strings.Split(src, "\n") {
		if j := strings.Index(l, "X"); j >= 0 {
			return Pos{File: "f.yaml", Line: i + 1, Col: len([]rune(l[:j])) + 1}
		}
	}
	return Pos{}
}

func TestParseErrorsInsideInput(t *testing.T) {
	for _, src := range []string{"", "a: {x: 1\n\n\nb: 2", "a: 'x\n", "a:\n\t- b", "a: 1\n---\nb: 2", "a: &x [*x]"} {
		f, ds := Parse("f.yaml", []byte(src))
		if f != nil && !ds.HasErrors() {
			continue
		}
		lines := strings.Count(src, "\n") + 1
		for _, d := range ds {
			if d.Pos.Line < 1 || d.Pos.Line > lines {
				t.Errorf("%q: %v outside the input", src, d)
			}
		}
	}
}

func TestRender(t *testing.T) {
	ds := Diagnostics{
		{Pos: Pos{"b.yaml", 2, 3}, Severity: Warning, Message: "w"},
		{Pos: Pos{"a.yaml", 1, 4}, Severity: Error, Message: "bad"},
	}
	ds.Sort()
	var b strings.Builder
	if err := ds.Render(&b, map[string][]byte{"a.yaml": []byte("ab: cd\n")}); err != nil {
		t.Fatal(err)
	}
	want := "a.yaml:1:4: bad\n  ab: cd\n     ^\nb.yaml:2:3: warning: w\n"
	if b.String() != want {
		t.Fatalf("got\n%q\nwant\n%q", b.String(), want)
	}
	if ds.Err() == nil || (Diagnostics{ds[1]}).Err() != nil {
		t.Fatal("Err: errors decide")
	}
}
