package memflow_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memflow/memflow"
	"github.com/memflow/memflow/activities"
	"github.com/memflow/memflow/internal/store"
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
      - sleep: 1h # on the engine's clock: ends when the clock moves
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
		jsonEq(t, result(t, eng, id), `{"sig":{"from":"helper"},"later":2,"at":"2030-01-02T05:04:05.000000000Z"}`)
	})
}

// A long run of non-blocking steps continues over several transactions.
func TestLongLoopYields(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		eng := d.open(t, nil)
		loadFlow(t, eng, `
memflow: v1
workflows:
  loop:
    entity: doc
    steps:
      - set: { i: 0 }
      - while: ${ entity.i < 1500 }
        maxIterations: 2000
        steps:
          - increment: { i: 1 }
`)
		work(t, eng, memflow.WorkerConfig{})
		id := start(t, eng, "loop", nil)
		jsonEq(t, result(t, eng, id), `{"i":1500}`)
		steps := 0
		for _, ev := range history(t, eng, id) {
			if ev.Kind == "step" {
				steps++
			}
		}
		if steps != 1502 {
			t.Errorf("%d step events, want 1502 (set, 1500 increments, while)", steps)
		}
	})
}

// An expression error fails its step with the flow's file:line; an
// activity's per-attempt timeout fails with type Timeout once attempts run
// out.
func TestExpressionErrorAndTimeout(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		acts := newActs()
		acts.gate = make(chan struct{}) // never opened: every attempt times out
		eng := d.open(t, acts)
		path := loadFlow(t, eng, `
memflow: v1
workflows:
  broken:
    entity: doc
    steps:
      - set: { ok: true }
      - set: { x: "${ input.a.b }" }
  slow:
    entity: doc
    steps:
      - try:
          - activity: test.block
            timeout: 30ms
            retry: { maxAttempts: 2, initialInterval: 1ms }
        catch:
          - set: { error: "${ error }" }
`)
		work(t, eng, memflow.WorkerConfig{})
		id := start(t, eng, "broken", nil)
		we := failure(t, eng, id)
		if !strings.Contains(we.Message, filepath.Base(path)+":7:") {
			t.Errorf("error %q does not name %s:7", we.Message, filepath.Base(path))
		}
		jsonEq(t, decode(t, mustEntity(t, eng, id)), `{"ok":true}`)

		id = start(t, eng, "slow", nil)
		res := result(t, eng, id).(map[string]any)["error"].(map[string]any)
		if res["type"] != "Timeout" || res["attempts"] != 2.0 || acts.count("block") != 2 {
			t.Errorf("timeout error %v after %d calls", res, acts.count("block"))
		}
	})
}

// A child step naming an existing workflow id joins that instance: it
// waits for it when running and takes its result when it ended.
func TestChildJoinsExistingID(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := context.Background()
		eng := d.open(t, nil)
		loadFlow(t, eng, `
memflow: v1
workflows:
  shared:
    entity: doc
    steps:
      - id: v
        wait: go
    result: ${ steps.v }
  user:
    entity: doc
    steps:
      - id: s
        workflow: shared
        workflowId: shared-1
    result: ${ steps.s }
`)
		work(t, eng, memflow.WorkerConfig{})
		start(t, eng, "shared", nil, memflow.WithID("shared-1"))
		first := start(t, eng, "user", nil)
		second := start(t, eng, "user", nil)
		st, err := store.Open(ctx, d.URL, d.App)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		eventually(t, "both users to join shared-1", func() bool {
			j, err := st.GetJob(ctx, "shared-1")
			return err == nil && strings.Count(string(j.State), `"thread"`) == 2
		})
		if err := eng.Signal(ctx, "shared-1", "go", 42); err != nil {
			t.Fatal(err)
		}
		jsonEq(t, result(t, eng, first), `42`)
		jsonEq(t, result(t, eng, second), `42`)
		// Ended: a later user takes the result at once.
		jsonEq(t, result(t, eng, start(t, eng, "user", nil)), `42`)
	})
}

// A hook awaited through a signal that fails before signalling fails the
// step waiting for it.
func TestHookSignalFailure(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		eng := d.open(t, nil)
		loadFlow(t, eng, `
memflow: v1
workflows:
  main:
    entity: doc
    steps:
      - try:
          - hook: helper
            signal: ready
        catch:
          - set: { failed: "${ error.message }" }
hooks:
  helper:
    steps:
      - fail: "helper broke"
      - signal: ready
`)
		work(t, eng, memflow.WorkerConfig{})
		jsonEq(t, result(t, eng, start(t, eng, "main", nil)), `{"failed":"helper broke"}`)
	})
}
