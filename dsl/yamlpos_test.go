package dsl

import (
	"strings"
	"testing"
)

// Each case is a flow with one typical indentation or quoting mistake and
// the line:col the error must name: the line that broke the structure, not
// the start of the mapping around it.
func TestSyntaxErrorPlacement(t *testing.T) {
	const head = "memflow: v1\nworkflows:\n  w:\n    entity: doc\n    steps:\n" // lines 1-5
	for _, tc := range []struct {
		name      string
		body      string // from line 6
		line, col int
		msg       string // part of the message
	}{
		{"timeout indented under args", "      - activity: work\n        args: { a: 1 }\n          timeout: 5s\n", 8, 11, "deeper"},
		{"key indented under a scalar", "      - activity: work\n          timeout: 5s\n", 7, 11, "deeper"},
		{"item one space less than siblings", "      - activity: a\n      - activity: b\n     - activity: c\n", 8, 6, "matches no enclosing"},
		{"item one space more than siblings", "      - activity: a\n       - activity: b\n", 7, 8, "matches no enclosing"},
		{"key one space less than siblings", "      - activity: work\n        args:\n          a: 1\n         b: 2\n", 9, 10, "matches no enclosing"},
		{"key one space less in a step", "      - activity: work\n       timeout: 5s\n", 7, 8, "matches no enclosing"},
		{"workflow key between levels", "      - activity: work\n entity: x\n", 7, 2, "matches no enclosing"},
		{"then deeper than if", "      - if: ${ input.a }\n          then:\n            - activity: work\n", 7, 11, "deeper"},
		{"else shallower than then", "      - if: ${ input.a }\n        then:\n          - activity: a\n       else:\n          - activity: b\n", 9, 8, "matches no enclosing"},
		{"nested steps item misaligned", "      - parallel:\n          - steps:\n              - activity: a\n             - activity: b\n", 9, 14, "matches no enclosing"},
		{"merge value over-indented", "      - merge:\n          a: 1\n            b: 2\n", 8, 13, "deeper"},
		{"value after a scalar list item", "      - activity: work\n        args:\n          list:\n            - x\n              y: 1\n", 10, 15, "mapping values"},
		{"unclosed double quote", "      - activity: work\n        args:\n          name: \"abc\n      - activity: work\n", 8, 17, "double quote"},
		{"unclosed single quote in braces", "      - activity: work\n        args: { name: 'abc }\n", 7, 23, "single quote"},
		{"unclosed quote before a good line", "      - set: { a: \"x }\n      - activity: work\n", 6, 19, "double quote"},
		{"else if", "      - if: ${ input.a }\n        then:\n          - activity: a\n        else if: ${ input.b }\n          then:\n            - activity: b\n", 9, 9, "switch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := head + tc.body
			_, ds := Parse("flow.yaml", []byte(src))
			if len(ds) == 0 {
				t.Fatalf("no error for\n%s", src)
			}
			d := ds[0]
			if d.Pos.Line != tc.line || d.Pos.Col != tc.col || !strings.Contains(d.Message, tc.msg) {
				t.Errorf("got %d:%d %s\nwant %d:%d ...%s...\n%s", d.Pos.Line, d.Pos.Col, d.Message, tc.line, tc.col, tc.msg, src)
			}
		})
	}
}
