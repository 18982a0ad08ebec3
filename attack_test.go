package memflow_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/memflow/memflow"
)

// Issue 9 (correctness under attack): hooks and signals accepted from
// outside are never lost and never reordered.

const collectorFlow = `
memflow: v1
workflows:
  collector:
    entity: box
    steps:
      - while: ${ len(entity.got ?? []) < input.n }
        maxIterations: 100000
        steps:
          - id: s
            wait: sig
          - append: { got: "${ steps.s }" }
  gate:
    entity: box
    steps:
      - wait: go
  burst:
    entity: box
    steps:
      - while: ${ (entity.sent ?? 0) < input.n }
        maxIterations: 1000
        steps:
          - signal: sig
            to: ${ input.to }
            data: ${ entity.sent ?? 0 }
          - increment: { sent: 1 }
      - signal: sig
        to: ${ input.to }
        data: ${ entity.sent }
hooks:
  bump:
    steps:
      - increment: { hooks: 1 }
      - append: { seen: "${ input.n }" }
`

// Hooks accepted while the main thread is about to end run to their end:
// the instance waits for them, even when the signal that ends the main
// thread was accepted first and no worker ran until all of them were in.
func TestHooksAcceptedBeforeMainEndsAllRun(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := context.Background()
		eng := d.open(t, nil)
		loadFlow(t, eng, collectorFlow)
		id := start(t, eng, "gate", nil)
		if err := eng.Signal(ctx, id, "go", nil); err != nil {
			t.Fatal(err)
		}
		const hooks = 5
		for i := range hooks {
			if err := eng.Hook(ctx, id, "bump", map[string]any{"n": i}); err != nil {
				t.Fatalf("hook %d: %v", i, err)
			}
		}
		work(t, eng, memflow.WorkerConfig{Concurrency: 8})
		res := result(t, eng, id).(map[string]any)
		if res["hooks"] != float64(hooks) {
			t.Fatalf("accepted %d hooks, %v ran: %v", hooks, res["hooks"], res)
		}
		// A hook on an ended instance is refused, not dropped.
		if err := eng.Hook(ctx, id, "bump", map[string]any{"n": 99}); err == nil {
			t.Fatal("a hook on a completed instance was accepted")
		}
	})
}

// Signal steps of a flow reach another instance in the order they were
// sent, also when one transition sends many and workers claim their tasks
// in parallel.
func TestSignalStepsArriveInOrder(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		eng := d.open(t, nil)
		loadFlow(t, eng, collectorFlow)
		const n = 60
		target := start(t, eng, "collector", map[string]any{"n": n + 1})
		sender := start(t, eng, "burst", map[string]any{"n": n, "to": target})
		work(t, eng, memflow.WorkerConfig{Concurrency: 8})
		result(t, eng, sender)
		res := result(t, eng, target).(map[string]any)
		got, _ := res["got"].([]any)
		if len(got) != n+1 {
			t.Fatalf("got %d signals, want %d", len(got), n+1)
		}
		for i, v := range got {
			if v != float64(i) {
				t.Fatalf("signal %d arrived as %v: %v", i, v, got)
			}
		}
	})
}

// Signals to one instance reach it in the order they were committed: a
// backlog stored while no worker ran, then more sent while one runs.
func TestSignalsArriveInCommitOrder(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := context.Background()
		eng := d.open(t, nil)
		loadFlow(t, eng, collectorFlow)
		const n = 120
		id := start(t, eng, "collector", map[string]any{"n": n})
		for i := range n / 2 {
			if err := eng.Signal(ctx, id, "sig", i); err != nil {
				t.Fatal(err)
			}
		}
		work(t, eng, memflow.WorkerConfig{Concurrency: 8})
		for i := n / 2; i < n; i++ {
			if err := eng.Signal(ctx, id, "sig", i); err != nil {
				t.Fatal(err)
			}
		}
		res := result(t, eng, id).(map[string]any)
		got, _ := res["got"].([]any)
		if len(got) != n {
			t.Fatalf("got %d signals, want %d", len(got), n)
		}
		for i, v := range got {
			if v != float64(i) {
				t.Fatalf("signal %d arrived as %v: %v", i, v, fmt.Sprint(got))
			}
		}
	})
}
