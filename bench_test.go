package memflow_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/memflow/memflow"
	"github.com/memflow/memflow/flows/demo"
)

const benchFlow = `
memflow: v1
workflows:
  commands:
    entity: doc
    steps:
      - set: { n: 0, log: [] }
      - increment: { n: 1 }
      - append: { log: a }
      - increment: { n: 1 }
      - append: { log: b }
`

// BenchmarkEndToEnd reports the cost of one workflow from start to result:
// a flow of command steps (one transition) and the research agent example
// (activities, hooks and a parallel join), per store.
func BenchmarkEndToEnd(b *testing.B) {
	stores := map[string]func(t testing.TB) db{"sqlite": sqliteDB, "postgres": postgresDB}
	for _, name := range []string{"sqlite", "postgres"} {
		for _, wf := range []string{"commands", "researchAgent"} {
			b.Run(name+"/"+wf, func(b *testing.B) {
				benchWorkflow(b, stores[name](b), wf)
			})
		}
	}
}

func benchWorkflow(b *testing.B, d db, wf string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	eng, err := memflow.Open(ctx, d.URL, memflow.Config{App: d.App})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	if err := demo.Register(eng); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "bench.yaml")
	if err := os.WriteFile(path, []byte(benchFlow), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := eng.LoadFlows(ctx, path, "flows/examples"); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx, memflow.WorkerConfig{}) }()
	args := map[string]any{"query": "bench"}
	b.ResetTimer()
	for range b.N {
		id, err := eng.Start(ctx, wf, args)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := eng.Result(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cancel()
	<-done
}
