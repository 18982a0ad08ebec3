package compiler

import (
	"strings"
	"testing"

	"github.com/memflow/memflow/dsl"
)

// TestFileSchemaPositions checks that flow schema errors land on the
// offending key or value.
func TestFileSchemaPositions(t *testing.T) {
	src := `memflow: v1
workflows:
  w:
    entity: doc
    steps:
      - activity: work
        retri: {}
      - hook: h
        await: "yes"
    result: 1
  v:
    steps: []
`
	f, ds := dsl.Parse("f.yaml", []byte(src))
	if ds.HasErrors() {
		t.Fatal(ds.Error())
	}
	got := newFileSchema().validate(f)
	got.Sort()
	want := []string{
		`f.yaml:7:9: unknown key "retri"`,
		`f.yaml:9:16: got string, want boolean`,
		`f.yaml:11:3: missing key "entity"`,
		`f.yaml:12:12: minItems: got 0, want 1`,
	}
	var lines []string
	for _, d := range got {
		lines = append(lines, d.String())
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func BenchmarkFileSchema(b *testing.B) {
	for b.Loop() {
		newFileSchema()
	}
}
