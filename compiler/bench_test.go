package compiler

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/memflow/memflow/dsl"
)

func exampleFiles(b *testing.B) map[string][]byte {
	b.Helper()
	files := map[string][]byte{}
	paths, _ := filepath.Glob(filepath.Join("..", "flows", "examples", "*.yaml"))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		files[p] = data
	}
	return files
}

// BenchmarkParse measures YAML parsing into the positioned AST.
func BenchmarkParse(b *testing.B) {
	files := exampleFiles(b)
	for b.Loop() {
		for name, src := range files {
			if _, ds := dsl.Parse(name, src); ds.HasErrors() {
				b.Fatal(ds.Error())
			}
		}
	}
}

// BenchmarkLoadExamples measures a whole load of both examples: parse,
// schema validation, compilation and versions.
func BenchmarkLoadExamples(b *testing.B) {
	files := exampleFiles(b)
	for b.Loop() {
		if cat, ds := LoadFiles(files, Options{}); cat == nil {
			b.Fatal(ds.Error())
		}
	}
}

// BenchmarkValueEval measures evaluating a compiled template.
func BenchmarkValueEval(b *testing.B) {
	v, err := NewValue(map[string]any{"page": "page-${ index + 1 }", "q": "${ input.query }", "n": "${ len(entity.items) }"}, Pos{}, []string{"index"})
	if err != nil {
		b.Fatal(err)
	}
	env := &Env{Input: map[string]any{"query": "q"}, Entity: map[string]any{"items": []any{1, 2}}, Vars: map[string]any{"index": 1}}
	for b.Loop() {
		if _, err := v.Eval(env); err != nil {
			b.Fatal(err)
		}
	}
}
