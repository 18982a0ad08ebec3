package memflow_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memflow/memflow"
	"github.com/memflow/memflow/activities"
)

// Cancelling a parent cancels its children and hooks.
func TestCancelCascades(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := context.Background()
		eng := d.open(t, nil)
		loadFlow(t, eng, `
memflow: v1
workflows:
  parent:
    entity: doc
    steps:
      - workflow: child
        workflowId: child-of-${ workflow.id }
  child:
    entity: doc
    steps:
      - set: { waiting: true }
      - wait: never
`)
		work(t, eng, memflow.WorkerConfig{})
		id := start(t, eng, "parent", nil, memflow.WithID("par"))
		eventually(t, "the child to wait", func() bool {
			raw, err := eng.Entity(ctx, "child-of-par")
			return err == nil && strings.Contains(string(raw), "waiting")
		})
		if err := eng.Cancel(ctx, id); err != nil {
			t.Fatal(err)
		}
		if we := failure(t, eng, "child-of-par"); we.Status != memflow.StatusCancelled {
			t.Errorf("child %s", we.Status)
		}
		if err := eng.Cancel(ctx, id); err != nil {
			t.Errorf("cancelling twice: %v", err)
		}
	})
}

// A hook step with signal: waits for that signal instead of the hook's end;
// RetryAfter sets the retry delay; now() reads the injected clock.
func TestHookSignalRetryAfterClock(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		var mu sync.Mutex
		clock := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		now := func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			return clock
		}
		eng, err := memflow.Open(context.Background(), d.URL, memflow.Config{App: d.App, Clock: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { eng.Close() })
		var calls atomic.Int32
		if err := eng.Register("test.later", func(ctx context.Context) (int, error) {
			if n := calls.Add(1); n == 1 {
				return 0, activities.RetryAfter(time.Hour, &activities.Error{Type: "Busy", Message: "later"})
			}
			return int(calls.Load()), nil
		}); err != nil {
			t.Fatal(err)
		}
		loadFlow(t, eng, `
memflow: v1
workflows:
  main:
    entity: doc
    steps:
      - id: sig
        hook: helper
        signal: ready
      - id: later
        activity: test.later
        retry: { maxAttempts: 2, initialInterval: 1ms }
      - set: { sig: "${ steps.sig }", later: "${ steps.later }", at: "${ now() }" }
hooks:
  helper:
    steps:
      - signal: ready
        data: { from: helper }
      - wait: forever
`)
		work(t, eng, memflow.WorkerConfig{})
		id := start(t, eng, "main", nil)
		eventually(t, "the first attempt", func() bool { return calls.Load() == 1 })
		// The retry waits for RetryAfter's hour on the engine's clock, not
		// the policy's millisecond: nothing happens until the clock moves.
		time.Sleep(200 * time.Millisecond)
		if n := calls.Load(); n != 1 {
			t.Fatalf("retried after %d calls before the clock moved", n)
		}
		mu.Lock()
		clock = clock.Add(2 * time.Hour)
		mu.Unlock()
		jsonEq(t, result(t, eng, id), `{"sig":{"from":"helper"},"later":2,"at":"2030-01-02T05:04:05Z"}`)
	})
}
