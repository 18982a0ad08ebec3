package compiler_test

import (
	"os"
	"testing"
	"time"

	"github.com/memflow/memflow/compiler"
)

// BenchmarkCompile loads both example flows: parse, check and compile into
// state machines.
func BenchmarkCompile(b *testing.B) {
	files := map[string][]byte{}
	for _, name := range []string{"research-agent.yaml", "document-pipeline.yaml"} {
		src, err := os.ReadFile("../flows/examples/" + name)
		if err != nil {
			b.Fatal(err)
		}
		files[name] = src
	}
	b.ReportAllocs()
	for b.Loop() {
		if cat, ds := compiler.LoadFiles(files, compiler.Options{App: "bench"}); cat == nil || ds.HasErrors() {
			b.Fatalf("load: %v", ds)
		}
	}
}

// BenchmarkValueEval evaluates step arguments as the runtime does for each
// step: a template mixing a whole-value expression, an interpolation and
// constants.
func BenchmarkValueEval(b *testing.B) {
	v, err := compiler.NewValue(map[string]any{
		"query":  "${ input.query }",
		"page":   "page-${ entity.n + 1 }",
		"count":  "${ len(entity.items) }",
		"nested": map[string]any{"ok": true, "by": "${ steps.first.by }"},
	}, compiler.Pos{File: "bench.yaml", Line: 1, Col: 1}, nil)
	if err != nil {
		b.Fatal(err)
	}
	env := &compiler.Env{
		Input:  map[string]any{"query": "solid-state batteries"},
		Entity: map[string]any{"n": 3, "items": []any{1, 2, 3}},
		Steps:  map[string]any{"first": map[string]any{"by": "ana"}},
		Now:    time.Now,
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Eval(env); err != nil {
			b.Fatal(err)
		}
	}
}
