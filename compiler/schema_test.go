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

// TestFileSchemaForEachWaits checks that the schema, like the compiler,
// refuses signal and await on a forEach (and keeps them on a hook step).
func TestFileSchemaForEachWaits(t *testing.T) {
	src := `memflow: v1
workflows:
  w:
    entity: doc
    steps:
      - forEach: ${ input.items }
        hook: h
        await: false
        signal: ready
      - hook: h
        await: false
`
	f, ds := dsl.Parse("f.yaml", []byte(src))
	if ds.HasErrors() {
		t.Fatal(ds.Error())
	}
	got := newFileSchema().validate(f)
	got.Sort()
	var lines []string
	for _, d := range got {
		lines = append(lines, d.Pos.String())
	}
	if want := "f.yaml:8:16 f.yaml:9:17"; strings.Join(lines, " ") != want {
		t.Fatalf("schema errors at %v, want %s: %v", lines, want, got)
	}
}

func BenchmarkFileSchema(b *testing.B) {
	for b.Loop() {
		newFileSchema()
	}
}
