package dsl

import (
	"fmt"
	"strings"
	"testing"
)

// TestDuplicateKeys: a key given twice in one map is an error at the second
// key, in block and flow maps, at every depth; the same key in different
// maps is not.
func TestDuplicateKeys(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string // "line:col key"; none: no error
	}{
		{"flow", "merge: {status: shipped, status: done}\n", []string{"1:26 status"}},
		{"block-top", "a: 1\nb: 2\na: 3\n", []string{"3:1 a"}},
		{"block-nested", "w:\n  steps:\n    - set:\n        x: 1\n        y: 2\n        x: 3\n", []string{"6:9 x"}},
		{"flow-in-block", "args:\n  deep: {a: {b: 1, b: 2}}\n", []string{"2:20 b"}},
		{"three-times", "a: 1\na: 2\na: 3\n", []string{"2:1 a", "3:1 a"}},
		{"quoted-and-plain", "\"k\": 1\nk: 2\n", []string{"2:1 k"}},
		{"in-list-item", "- {a: 1, a: 1}\n", []string{"1:10 a"}},
		{"same-key-other-maps", "a: {x: 1}\nb: {x: 2}\n", nil},
		{"list-items-alike", "- x: 1\n- x: 2\n", nil},
		{"alias-twice", "a: &m {x: 1}\nb: *m\nc: *m\n", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, ds := Parse("f.yaml", []byte(c.src))
			if f == nil {
				t.Fatalf("no file: %v", ds)
			}
			var got []string
			for _, d := range ds {
				if d.Severity != Error || !strings.HasPrefix(d.Message, "duplicate key ") {
					t.Fatalf("unexpected diagnostic %v", d)
				}
				key := strings.SplitN(d.Message, "\"", 3)[1]
				got = append(got, fmt.Sprintf("%d:%d %s", d.Pos.Line, d.Pos.Col, key))
			}
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}
