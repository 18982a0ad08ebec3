package memflow_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/memflow/memflow"
)

const pendingFlows = `
memflow: v1
workflows:
  waiter:
    entity: doc
    steps:
      - id: a
        wait: n
      - id: b
        wait: n
      - id: c
        wait: n
    result: ["${ steps.a }", "${ steps.b }", "${ steps.c }"]
  one:
    entity: doc
    steps:
      - id: got
        wait: n
    result: ${ steps.got }
  sender:
    entity: doc
    steps:
      - signal: n
        to: ${ input.to }
        data: ${ input.v }
`

// A signal to an id no instance holds yet is kept and delivered, in the
// order sent, when an instance with that id starts: from Signal and from a
// flow's signal step alike.
func TestSignalBeforeTarget(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := testCtx(t)
		eng := d.open(t, nil)
		loadFlow(t, eng, pendingFlows)
		work(t, eng, memflow.WorkerConfig{})
		if err := eng.Signal(ctx, "late-1", "n", 1); err != nil {
			t.Fatalf("signal before start: %v", err)
		}
		result(t, eng, start(t, eng, "sender", map[string]any{"to": "late-1", "v": 2}))
		if err := eng.Signal(ctx, "late-1", "other", "x"); err != nil {
			t.Fatal(err)
		}
		if err := eng.Signal(ctx, "late-1", "n", 3); err != nil {
			t.Fatal(err)
		}
		jsonEq(t, result(t, eng, start(t, eng, "waiter", nil, memflow.WithID("late-1"))), `[1,2,3]`)
		// The kept signals went to the instance: a second instance of
		// another id gets none of them.
		if err := eng.Signal(ctx, "late-1", "n", 4); err == nil {
			t.Error("signal to the completed instance: no error")
		}
		// An invalid id is refused, not kept.
		if err := eng.Signal(ctx, "bad id\x00", "n", 1); err == nil {
			t.Error("signal to an invalid id: no error")
		}
	})
}

// Kept signals older than Limits.PendingSignalTTL are dropped.
func TestSignalBeforeTargetExpires(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := testCtx(t)
		var mu sync.Mutex
		now := time.Now()
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		eng, err := memflow.Open(ctx, d.URL, memflow.Config{App: d.App, Clock: clock,
			Limits: memflow.Limits{PendingSignalTTL: time.Hour}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { eng.Close() })
		loadFlow(t, eng, pendingFlows)
		if err := eng.Signal(ctx, "late-2", "n", "old"); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		now = now.Add(2 * time.Hour)
		mu.Unlock()
		if err := eng.Signal(ctx, "late-2", "n", "new"); err != nil {
			t.Fatal(err)
		}
		work(t, eng, memflow.WorkerConfig{})
		jsonEq(t, result(t, eng, start(t, eng, "one", nil, memflow.WithID("late-2"))), `"new"`)
	})
}

// SignalWithStart starts the instance when no instance holds the id and
// delivers the signal in the same commit; otherwise it only signals.
func TestSignalWithStart(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := testCtx(t)
		eng := d.open(t, nil)
		loadFlow(t, eng, pendingFlows)
		started, err := eng.SignalWithStart(ctx, "sws-1", "n", 7, "one", nil)
		if err != nil || !started {
			t.Fatalf("signal with start: started %v, %v", started, err)
		}
		// No worker ran: the start's own commit took the signal.
		in, err := eng.Get(ctx, "sws-1")
		if err != nil || in.Status != memflow.StatusCompleted {
			t.Fatalf("after signal with start: %+v, %v", in, err)
		}
		jsonEq(t, in.Result, `7`)
		// An existing instance of the workflow only receives the signal.
		if _, err := eng.Start(ctx, "waiter", nil, memflow.WithID("sws-2")); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 3; i++ {
			started, err := eng.SignalWithStart(ctx, "sws-2", "n", i, "waiter", nil)
			if err != nil || started != false {
				t.Fatalf("signal with start of a running instance: started %v, %v", started, err)
			}
		}
		work(t, eng, memflow.WorkerConfig{})
		jsonEq(t, result(t, eng, "sws-2"), `[1,2,3]`)
		if _, err := eng.SignalWithStart(ctx, "sws-2", "n", 1, "one", nil); !errors.Is(err, memflow.ErrIDTaken) {
			t.Errorf("signal with start of another workflow's id: %v, want ErrIDTaken", err)
		}
	})
}

// Parents and children started by two forEach steps at once signal each
// other: whichever runs first signals an id that may not exist yet. Every
// pair completes, on both stores, run after run (go test -count=5).
func TestSignalRacePairs(t *testing.T) {
	const n = 20
	eachStore(t, func(t *testing.T, d db) {
		ctx := testCtx(t)
		eng := d.open(t, nil)
		loadFlow(t, eng, `
memflow: v1
workflows:
  parents:
    entity: doc
    steps:
      - id: all
        forEach: ${ input.items }
        steps:
          - workflow: parent
            workflowId: p-${ item }
            args: { kid: "k-${ item }" }
    result: ${ steps.all }
  kids:
    entity: doc
    steps:
      - id: all
        forEach: ${ input.items }
        steps:
          - workflow: kid
            workflowId: k-${ item }
            args: { parent: "p-${ item }" }
    result: ${ steps.all }
  parent:
    entity: doc
    steps:
      - signal: hello
        to: ${ input.kid }
        data: ${ workflow.id }
      - id: got
        wait: hi
    result: ${ steps.got }
  kid:
    entity: doc
    steps:
      - signal: hi
        to: ${ input.parent }
        data: ${ workflow.id }
      - id: got
        wait: hello
    result: ${ steps.got }
`)
		work(t, eng, memflow.WorkerConfig{Concurrency: 8})
		work(t, eng, memflow.WorkerConfig{Concurrency: 8})
		items := make([]any, n)
		for i := range items {
			items[i] = i
		}
		ids := make([]string, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, wf := range []string{"parents", "kids"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ids[i], errs[i] = eng.Start(ctx, wf, map[string]any{"items": items})
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got := [2][]any{result(t, eng, ids[0]).([]any), result(t, eng, ids[1]).([]any)}
		for i := 0; i < n; i++ {
			if want := fmt.Sprintf("k-%d", i); got[0][i] != want {
				t.Errorf("parent %d got %v, want %s", i, got[0][i], want)
			}
			if want := fmt.Sprintf("p-%d", i); got[1][i] != want {
				t.Errorf("kid %d got %v, want %s", i, got[1][i], want)
			}
		}
	})
}
