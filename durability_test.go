package memflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/memflow/memflow"
	"github.com/memflow/memflow/internal/store"
)

// Promise 1: a step commits atomically; a failing command writes nothing of
// its step, and a schema violation neither.
func TestAtomicStep(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		eng := d.open(t, nil)
		loadFlow(t, eng, `
memflow: v1
entities:
  strict:
    schema: { type: object, properties: { status: { type: string } } }
workflows:
  atomic:
    entity: strict
    steps:
      - set: { n: 1, s: text, status: ok }
      - id: bad
        try:
          - increment: { n: 1, s: 1 }
        catch:
          - merge: { afterCommand: "${ entity.n }", commandError: "${ error.type }" }
      - try:
          - merge: { status: 5, n: 100 }
        catch:
          - merge: { afterSchema: "${ entity.n }", schemaError: "${ error.type }" }
`)
		work(t, eng, memflow.WorkerConfig{})
		id := start(t, eng, "atomic", nil)
		jsonEq(t, result(t, eng, id), `{"n":1,"s":"text","status":"ok","afterCommand":1,"commandError":"CommandError",
			"afterSchema":1,"schemaError":"SchemaError"}`)
		evs, err := eng.History(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		failed := 0
		for _, ev := range evs {
			if ev.Kind == "error" {
				failed++
			}
		}
		if failed != 2 {
			t.Errorf("history has %d error events, want 2", failed)
		}
	})
}

// Promise 2: an activity runs at least once, but its result is committed
// once: a duplicate run (the lease expired while the first still ran)
// commits nothing, and the step after it runs exactly once.
func TestActivityResultCommittedOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		eng := d.open(t, nil)
		var mu sync.Mutex
		calls := 0
		release := make(chan struct{})
		if err := eng.Register("test.slowOnce", func(ctx context.Context) (int, error) {
			mu.Lock()
			calls++
			n := calls
			mu.Unlock()
			if n == 1 {
				<-release // outlive the lease, so the task is claimed again
			}
			return n, nil
		}); err != nil {
			t.Fatal(err)
		}
		loadFlow(t, eng, `
memflow: v1
workflows:
  once:
    entity: doc
    steps:
      - id: a
        activity: test.slowOnce
      - increment: { after: 1 }
      - merge: { result: "${ steps.a }" }
`)
		work(t, eng, memflow.WorkerConfig{Concurrency: 2, Lease: 200 * time.Millisecond, Heartbeat: -1})
		id := start(t, eng, "once", nil)
		jsonEq(t, result(t, eng, id), `{"after":1,"result":2}`)
		close(release)
		eventually(t, "the first run to try its commit", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return calls == 2
		})
		// The late first run must not commit: give it time to try.
		time.Sleep(100 * time.Millisecond)
		jsonEq(t, decode(t, mustEntity(t, eng, id)), `{"after":1,"result":2}`)
		assertStepsOnce(t, eng, id)
		n := 0
		for _, ev := range history(t, eng, id) {
			if ev.Kind == "step" && ev.Step == "a" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("activity step committed %d times, want 1", n)
		}
	})
}

// blockingFlow runs test.block (which waits for its gate) and keeps what it
// returned.
const blockingFlow = `
memflow: v1
workflows:
  long:
    entity: doc
    steps:
      - id: b
        activity: test.block
      - set: { got: "${ steps.b }" }
`

// A heartbeat keeps an activity that outlives its lease from running twice.
func TestActivityHeartbeat(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		acts := newActs()
		acts.gate = make(chan struct{})
		eng := d.open(t, acts)
		loadFlow(t, eng, blockingFlow)
		work(t, eng, memflow.WorkerConfig{Concurrency: 2, Lease: 150 * time.Millisecond})
		id := start(t, eng, "long", nil)
		eventually(t, "the activity to start", func() bool { return acts.count("block") == 1 })
		// Outlive several leases, then let it finish.
		deadline := time.Now().Add(600 * time.Millisecond)
		eventually(t, "several leases to pass", func() bool { return time.Now().After(deadline) })
		close(acts.gate)
		jsonEq(t, result(t, eng, id), `{"got":"unblocked"}`)
		if n := acts.count("block"); n != 1 {
			t.Errorf("activity ran %d times, want 1", n)
		}
	})
}

// A worker whose lease lapsed and whose task another worker then claimed
// learns so at its next heartbeat: its activity is cancelled and it commits
// nothing, while the new holder finishes the step.
func TestLostLeaseCancelsActivity(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		first, second := newActs(), newActs()
		first.gate, second.gate = make(chan struct{}), make(chan struct{})
		a, b := d.open(t, first), d.open(t, second)
		loadFlow(t, a, blockingFlow)
		// a's lease lapses between its heartbeats.
		work(t, a, memflow.WorkerConfig{Concurrency: 1, Lease: 100 * time.Millisecond, Heartbeat: 400 * time.Millisecond})
		id := start(t, a, "long", nil)
		eventually(t, "the first worker to start the activity", func() bool { return first.count("block") == 1 })
		work(t, b, memflow.WorkerConfig{Concurrency: 1, Lease: 10 * time.Second})
		eventually(t, "the second worker to claim the task", func() bool { return second.count("block") == 1 })
		eventually(t, "the first worker's activity to be cancelled", func() bool { return first.count("block-cancelled") == 1 })
		close(second.gate)
		jsonEq(t, result(t, a, id), `{"got":"unblocked"}`)
		if n := first.count("block") + second.count("block"); n != 2 {
			t.Errorf("activity ran %d times, want 2 (once per worker)", n)
		}
		assertStepsOnce(t, a, id)
	})
}

func history(t *testing.T, eng *memflow.Engine, id string) []memflow.Event {
	t.Helper()
	evs, err := eng.History(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// assertStepsOnce checks that no step transition was committed twice: each
// (thread, state, tick) appears once among step events.
func assertStepsOnce(t *testing.T, eng *memflow.Engine, id string) {
	t.Helper()
	seen := map[string]bool{}
	for _, ev := range history(t, eng, id) {
		if ev.Kind != "step" && ev.Kind != "skipped" {
			continue
		}
		var d struct {
			Tick int64 `json:"tick"`
		}
		_ = json.Unmarshal(ev.Detail, &d)
		k := fmt.Sprintf("%s/%s/%d", ev.Thread, ev.Step, d.Tick)
		if seen[k] {
			t.Errorf("%s: step %s committed twice", id, k)
		}
		seen[k] = true
	}
}

// Promise 3: a worker that dies loses nothing; its tasks return after the
// lease and another worker finishes the instance.
func TestWorkerDeath(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		acts := newActs()
		eng := d.open(t, acts)
		loadFlow(t, eng, `
memflow: v1
workflows:
  survivor:
    entity: doc
    steps:
      - id: a
        activity: test.count
        args: { key: survivor }
      - set: { done: "${ steps.a }" }
`)
		id := start(t, eng, "survivor", nil)
		st, err := store.Open(context.Background(), d.URL, d.App)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		// The "dead" worker claims the start task and never finishes it.
		claimed, err := st.ClaimTasks(context.Background(), store.ClaimParams{Limit: 10, Lease: 300 * time.Millisecond,
			Worker: "dead", Now: time.Now()})
		if err != nil || len(claimed) == 0 {
			t.Fatalf("dead worker claimed %d tasks: %v", len(claimed), err)
		}
		work(t, eng, memflow.WorkerConfig{})
		jsonEq(t, result(t, eng, id), `{"done":1}`)
		if n := acts.count("survivor"); n != 1 {
			t.Errorf("activity ran %d times, want 1", n)
		}
	})
}

// Promise 4: starting an existing id returns it and runs nothing twice.
func TestIdempotentStart(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		acts := newActs()
		eng := d.open(t, acts)
		loadFlow(t, eng, `
memflow: v1
workflows:
  once:
    entity: doc
    steps:
      - activity: test.count
        args: { key: once }
      - set: { arg: "${ input }" }
`)
		for i := range 3 {
			id, err := eng.Start(context.Background(), "once", i, memflow.WithID("same"))
			if err != nil || id != "same" {
				t.Fatalf("start %d: %q %v", i, id, err)
			}
		}
		work(t, eng, memflow.WorkerConfig{})
		jsonEq(t, result(t, eng, "same"), `{"arg":0}`)
		// A second start after completion still changes nothing.
		if _, err := eng.Start(context.Background(), "once", 9, memflow.WithID("same")); err != nil {
			t.Fatal(err)
		}
		jsonEq(t, result(t, eng, "same"), `{"arg":0}`)
		started := 0
		for _, ev := range history(t, eng, "same") {
			if ev.Kind == "started" {
				started++
			}
		}
		if started != 1 || acts.count("once") != 1 {
			t.Errorf("started %d times, activity ran %d times; want 1 and 1", started, acts.count("once"))
		}
	})
}

const signalFlow = `
memflow: v1
workflows:
  approval:
    entity: doc
    steps:
      - id: first
        wait: approve
      - merge: { first: "${ steps.first }" }
      - id: second
        wait: approve
      - merge: { second: "${ steps.second }" }
      - try:
          - wait: approve
            timeout: 100ms
        catch:
          - merge: { third: "${ error.type }" }
`

// Promise 5: signals are durable: sent before the wait and with no worker
// running, or after the wait; each is delivered once.
func TestDurableSignals(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := context.Background()
		eng := d.open(t, nil)
		loadFlow(t, eng, signalFlow)
		id := start(t, eng, "approval", nil)
		// No worker has run yet: the signal waits in the database.
		if err := eng.Signal(ctx, id, "approve", map[string]any{"by": "ana"}); err != nil {
			t.Fatal(err)
		}
		eng.Close()

		// A new engine that never loaded the flow resumes from the database.
		eng2 := d.open(t, nil)
		work(t, eng2, memflow.WorkerConfig{})
		eventually(t, "the first signal to be consumed", func() bool {
			return strings.Contains(string(mustEntity(t, eng2, id)), `"first"`)
		})
		if err := eng2.Signal(ctx, id, "approve", "late"); err != nil {
			t.Fatal(err)
		}
		jsonEq(t, result(t, eng2, id), `{"first":{"by":"ana"},"second":"late","third":"Timeout"}`)
		if err := eng2.Signal(ctx, id, "approve", 1); err == nil {
			t.Error("signal to a completed workflow was accepted")
		}
		// A signal to an id no instance holds yet is kept for it.
		if err := eng2.Signal(ctx, "nobody", "approve", 1); err != nil {
			t.Errorf("signal to an id no instance holds yet: %v, want it kept", err)
		}
	})
}

// Promise 6: timers are rows; a sleep started before an engine restart ends
// after it.
func TestTimersSurviveRestart(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		eng := d.open(t, nil)
		loadFlow(t, eng, `
memflow: v1
workflows:
  nap:
    entity: doc
    steps:
      - set: { phase: sleeping, at: "${ now() }" }
      - sleep: 400ms
      - merge: { phase: awake }
`)
		stop := work(t, eng, memflow.WorkerConfig{})
		id := start(t, eng, "nap", nil)
		eventually(t, "the sleep to start", func() bool {
			return strings.Contains(string(mustEntity(t, eng, id)), "sleeping")
		})
		stop()
		eng.Close()
		began := time.Now()
		eng2 := d.open(t, nil)
		work(t, eng2, memflow.WorkerConfig{})
		res := result(t, eng2, id).(map[string]any)
		if res["phase"] != "awake" {
			t.Errorf("phase %v", res["phase"])
		}
		at, _ := time.Parse(time.RFC3339Nano, res["at"].(string))
		if in, _ := eng2.Get(context.Background(), id); in.CompletedAt.Sub(at) < 400*time.Millisecond {
			t.Errorf("woke after %s, before the 400ms timer (restart took %s)", in.CompletedAt.Sub(at), time.Since(began))
		}
	})
}

// Promise 7: an instance runs to its end on the version it started with,
// even when the file changed; new starts use the new version.
func TestPinnedVersion(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := context.Background()
		flow := func(v string) string {
			return strings.ReplaceAll(`
memflow: v1
workflows:
  pinned:
    entity: doc
    steps:
      - set: { started: VER }
      - wait: go
      - merge: { finished: VER }
`, "VER", v)
		}
		path := filepath.Join(t.TempDir(), "pinned.yaml")
		writeFile(t, path, flow("v1"))
		eng := d.open(t, nil)
		if err := eng.LoadFlows(ctx, path); err != nil {
			t.Fatal(err)
		}
		stop := work(t, eng, memflow.WorkerConfig{})
		old := start(t, eng, "pinned", nil)
		eventually(t, "v1 to start", func() bool { return strings.Contains(string(mustEntity(t, eng, old)), "v1") })
		stop()
		eng.Close()

		writeFile(t, path, flow("v2"))
		eng2 := d.open(t, nil)
		if err := eng2.LoadFlows(ctx, path); err != nil {
			t.Fatal(err)
		}
		work(t, eng2, memflow.WorkerConfig{})
		newer := start(t, eng2, "pinned", nil)
		for _, id := range []string{old, newer} {
			if err := eng2.Signal(ctx, id, "go", nil); err != nil {
				t.Fatal(err)
			}
		}
		jsonEq(t, result(t, eng2, old), `{"started":"v1","finished":"v1"}`)
		jsonEq(t, result(t, eng2, newer), `{"started":"v2","finished":"v2"}`)
		vs, err := eng2.FlowVersions(ctx)
		if err != nil || len(vs) != 2 {
			t.Errorf("stored versions %v (%v), want 2", vs, err)
		}
	})
}

// Hooks started concurrently on one entity lose no update.
func TestConcurrentHooks(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := context.Background()
		eng := d.open(t, newActs())
		loadFlow(t, eng, `
memflow: v1
workflows:
  counter:
    entity: doc
    steps:
      - set: { count: 0 }
      - wait: done
hooks:
  bump:
    steps:
      - increment: { count: 1 }
      - activity: test.echo
        args: "${ input }"
      - increment: { count: 1 }
`)
		work(t, eng, memflow.WorkerConfig{Concurrency: 8})
		id := start(t, eng, "counter", nil)
		eventually(t, "the counter to be set", func() bool {
			return strings.Contains(string(mustEntity(t, eng, id)), "count")
		})
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := eng.Hook(ctx, id, "bump", i); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if err := eng.Hook(ctx, id, "nope", nil); err == nil || !memflow.IsNotFound(err) {
			t.Errorf("unknown hook: %v", err)
		}
		eventually(t, "40 increments", func() bool {
			ent, _ := decode(t, mustEntity(t, eng, id)).(map[string]any)
			return ent["count"] == 40.0
		})
		if err := eng.Signal(ctx, id, "done", nil); err != nil {
			t.Fatal(err)
		}
		jsonEq(t, result(t, eng, id), `{"count":40}`)
		assertStepsOnce(t, eng, id)
	})
}

// Two workers on one Postgres split the work.
func TestTwoWorkersSplit(t *testing.T) {
	d := postgresDB(t)
	counts := map[string]int{}
	var mu sync.Mutex
	flow := `
memflow: v1
workflows:
  who:
    entity: doc
    steps:
      - activity: test.who
`
	client := d.open(t, nil)
	if err := client.Register("test.who", func(ctx context.Context) (string, error) {
		return "", errors.New("the client runs no activity")
	}); err != nil {
		t.Fatal(err)
	}
	loadFlow(t, client, flow)
	for _, name := range []string{"a", "b"} {
		eng := d.open(t, nil)
		if err := eng.Register("test.who", func(ctx context.Context) (string, error) {
			time.Sleep(30 * time.Millisecond)
			mu.Lock()
			counts[name]++
			mu.Unlock()
			return name, nil
		}); err != nil {
			t.Fatal(err)
		}
		// The workers load nothing: they run the version the client stored.
		work(t, eng, memflow.WorkerConfig{Concurrency: 2})
	}
	var ids []string
	for range 40 {
		ids = append(ids, start(t, client, "who", nil))
	}
	for _, id := range ids {
		result(t, client, id)
	}
	mu.Lock()
	defer mu.Unlock()
	if counts["a"] == 0 || counts["b"] == 0 || counts["a"]+counts["b"] != 40 {
		t.Errorf("work split %v, want both workers busy and 40 in all", counts)
	}
}

// A worker shut down while an activity runs hands its task back: after the
// grace period the activity is cancelled, the attempt is not counted, and
// the next worker runs it to completion.
func TestGracefulShutdown(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		acts := newActs()
		acts.gate = make(chan struct{})
		eng := d.open(t, acts)
		loadFlow(t, eng, `
memflow: v1
workflows:
  long:
    entity: doc
    steps:
      - id: b
        activity: test.attempt
        retry: { maxAttempts: 1 }
      - set: { got: "${ steps.b }" }
`)
		stop := work(t, eng, memflow.WorkerConfig{Grace: 50 * time.Millisecond})
		id := start(t, eng, "long", nil)
		eventually(t, "the activity to start", func() bool { return acts.count("block") == 1 })
		stop()
		if acts.count("block-cancelled") != 1 {
			t.Fatal("shutdown did not cancel the activity after the grace period")
		}
		close(acts.gate)
		work(t, eng, memflow.WorkerConfig{})
		jsonEq(t, result(t, eng, id), `{"got":{"attempt":1,"result":"unblocked"}}`)
		for _, ev := range history(t, eng, id) {
			if ev.Kind == "retry" || ev.Kind == "error" {
				t.Errorf("shutdown counted as a failed attempt: %s %s", ev.Kind, ev.Detail)
			}
		}
	})
}
