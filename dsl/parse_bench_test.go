package dsl_test

import (
	"os"
	"testing"

	"github.com/memflow/memflow/dsl"
)

// BenchmarkParse parses the research-agent example flow into its AST.
func BenchmarkParse(b *testing.B) {
	src, err := os.ReadFile("../flows/examples/research-agent.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if f, ds := dsl.Parse("research-agent.yaml", src); f == nil || ds.HasErrors() {
			b.Fatalf("parse: %v", ds)
		}
	}
}
