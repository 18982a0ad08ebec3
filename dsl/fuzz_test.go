package dsl

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

// FuzzParse: parsing arbitrary bytes never panics, and every node position
// and every in-scalar position (PosAt at each character) is inside the
// input.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"k: ab ${ X }", "k: 'it''s ${ X }'", `k: "a\"b ${ X }"`, "k: |\n  one\n  ${ X }\n",
		"k: >\n  a\n  b\n", "a: &x [1, *x]", "- a\n- {b: c}\n", "k: \"ab\n  cd\"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		file, ds := Parse("f.yaml", src)
		lines := bytes.Split(src, []byte("\n"))
		inside := func(p Pos) {
			t.Helper()
			if p.Line < 1 || p.Line > len(lines) {
				t.Fatalf("line of %v outside the input (%d lines)", p, len(lines))
			}
			if n := utf8.RuneCount(lines[p.Line-1]); p.Col < 1 || p.Col > n+1 {
				t.Fatalf("column of %v outside its line (%d runes)", p, n)
			}
		}
		for _, d := range ds {
			inside(d.Pos)
		}
		if file == nil {
			return
		}
		budget := 10000
		var walk func(n Node)
		walk = func(n Node) {
			if budget--; budget < 0 {
				return
			}
			inside(n.Pos())
			switch n.Kind() {
			case Scalar:
				for off := range n.Text() {
					inside(n.PosAt(off))
				}
			case Mapping:
				for _, p := range n.Pairs() {
					walk(p.Key)
					walk(p.Value)
				}
			case Sequence:
				for _, it := range n.Items() {
					walk(it)
				}
			}
		}
		walk(file.Root)
	})
}
