package memflow_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/memflow/memflow"
)

const statusFlows = `
memflow: v1
workflows:
  sig:
    entity: doc
    timeout: 2h
    steps:
      - id: decision
        wait: approval
        timeout: 1h
  nap:
    entity: doc
    steps:
      - sleep: 1h
  hooked:
    entity: doc
    steps:
      - id: review
        hook: inner
  parent:
    entity: doc
    steps:
      - id: kid
        workflow: sig
        workflowId: "${ workflow.id + '-kid' }"
  act:
    entity: doc
    steps:
      - id: slow
        activity: test.block
  flaky:
    entity: doc
    steps:
      - id: try
        activity: test.flaky
        args: { key: f }
        retry: { maxAttempts: 3, initialInterval: 1h, maxInterval: 1h }
  done:
    entity: doc
    steps:
      - id: e
        activity: test.echo
        args: { ok: true }
      - merge: { ok: "${ steps.e.ok }" }
  broken:
    entity: doc
    steps:
      - fail: "no luck"
hooks:
  inner:
    steps:
      - id: ask
        wait: inner
`

// Status says what each instance does now: the step, the signal and its
// timeout, a sleep's end, the hooks and the child awaited, the activity
// attempt running or waiting for its retry, a step no worker ran yet, and
// the outcome of an ended instance.
func TestStatusTellsWhatAnInstanceDoes(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := testCtx(t)
		acts := newActs()
		acts.failures = 1
		acts.gate = make(chan struct{})
		eng := d.open(t, acts)
		loadFlow(t, eng, statusFlows)

		// Before any worker runs: the activity's first attempt waits for
		// one, its task pending.
		idle := start(t, eng, "done", nil)
		st, err := eng.Status(ctx, idle)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != memflow.StatusRunning || len(st.Threads) != 1 || st.Threads[0].Doing != memflow.DoingActivity ||
			st.Threads[0].Attempt != 1 || st.Threads[0].Attempting || len(st.Tasks) != 1 || st.Tasks[0].Kind != "activity" ||
			st.Root != idle || st.Queue != "default" {
			t.Fatalf("unworked instance: %+v", st)
		}
		if line := st.Threads[0].Line(time.Now()); line != "e: activity test.echo, attempt 1 waiting for a worker" {
			t.Errorf("unworked line: %q", line)
		}

		ids := map[string]string{}
		for _, wf := range []string{"sig", "nap", "hooked", "parent", "act", "flaky", "broken"} {
			ids[wf] = start(t, eng, wf, nil)
		}
		work(t, eng, memflow.WorkerConfig{})
		waitDoing := func(id, doing string, ok func(*memflow.Status) bool) *memflow.Status {
			t.Helper()
			var st *memflow.Status
			eventually(t, id+" "+doing, func() bool {
				var err error
				if st, err = eng.Status(ctx, id); err != nil {
					t.Fatal(err)
				}
				return len(st.Threads) > 0 && st.Threads[0].Doing == doing && ok(st)
			})
			return st
		}
		any := func(*memflow.Status) bool { return true }
		now := time.Now()
		near := func(at *time.Time, want time.Duration) bool {
			return at != nil && at.Sub(now) > want-time.Minute && at.Sub(now) <= want+time.Minute
		}

		st = waitDoing(ids["sig"], memflow.DoingSignal, any)
		m := st.Threads[0]
		if m.Signal != "approval" || m.StepID != "decision" || !near(m.Until, time.Hour) || !near(st.Deadline, 2*time.Hour) {
			t.Errorf("sig: %+v deadline %v", m, st.Deadline)
		}
		if line := m.Line(now); !strings.Contains(line, `decision: waiting for signal "approval" (times out in 5`) &&
			!strings.Contains(line, `decision: waiting for signal "approval" (times out in 1h`) {
			t.Errorf("sig line: %s", line)
		}

		st = waitDoing(ids["nap"], memflow.DoingSleep, any)
		if !near(st.Threads[0].Until, time.Hour) || !strings.Contains(st.Threads[0].Line(now), "sleeping until ") {
			t.Errorf("nap: %+v", st.Threads[0])
		}

		st = waitDoing(ids["hooked"], memflow.DoingHooks, func(st *memflow.Status) bool {
			return len(st.Threads) == 2 && st.Threads[1].Doing == memflow.DoingSignal
		})
		if !reflect.DeepEqual(st.Threads[0].Hooks, []string{"inner"}) || st.Threads[1].Hook != "inner" || st.Threads[1].Signal != "inner" {
			t.Errorf("hooked: %+v", st.Threads)
		}
		if line := st.Threads[1].Line(now); !strings.HasPrefix(line, `hook inner › ask: waiting for signal "inner"`) {
			t.Errorf("hook line: %s", line)
		}

		st = waitDoing(ids["parent"], memflow.DoingChild, any)
		if want := []string{ids["parent"] + "-kid"}; !reflect.DeepEqual(st.Threads[0].Children, want) {
			t.Errorf("parent: children %v, want %v", st.Threads[0].Children, want)
		}
		kid, err := eng.Status(ctx, ids["parent"]+"-kid")
		if err != nil || kid.Root != ids["parent"] {
			t.Errorf("child status %+v, %v: want root %s", kid, err, ids["parent"])
		}

		st = waitDoing(ids["act"], memflow.DoingActivity, func(st *memflow.Status) bool { return st.Threads[0].Attempting })
		if a := st.Threads[0]; a.Activity != "test.block" || a.Attempt != 1 || !strings.Contains(a.Line(now), "activity test.block, attempt 1 running") {
			t.Errorf("act: %+v", a)
		}

		st = waitDoing(ids["flaky"], memflow.DoingActivity, func(st *memflow.Status) bool { return st.Threads[0].Attempt == 2 })
		if a := st.Threads[0]; a.Attempting || !near(a.Until, time.Hour) || !strings.Contains(a.Line(now), "attempt 2 due in ") {
			t.Errorf("flaky: %+v", a)
		}

		if _, err := eng.Result(ctx, ids["broken"]); err == nil {
			t.Fatal("broken completed")
		}
		st, err = eng.Status(ctx, ids["broken"])
		if err != nil || st.Status != memflow.StatusFailed || !strings.Contains(st.Error, "no luck") || st.Ended == nil || len(st.Threads) != 0 {
			t.Errorf("broken: %+v, %v", st, err)
		}
		if _, err := eng.Result(ctx, idle); err != nil {
			t.Fatal(err)
		}
		if st, err = eng.Status(ctx, idle); err != nil || st.Status != memflow.StatusCompleted || string(st.Result) != `{"ok": true}` && string(st.Result) != `{"ok":true}` {
			t.Errorf("done: %+v, %v", st, err)
		}
		if _, err := eng.Status(ctx, "nope"); !memflow.IsNotFound(err) {
			t.Errorf("status of a missing id: %v", err)
		}
		close(acts.gate)
	})
}

// A worker restricted to a tree (WorkerConfig.Root) works on that root and
// the instances under it, never on another instance of the app: neither
// through a claim nor through a task its own transitions make for another
// instance (a signal step to it), which this engine would otherwise hand
// over to it in memory.
func TestWorkerRestrictedToTree(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := testCtx(t)
		eng := d.open(t, newActs())
		loadFlow(t, eng, `
memflow: v1
workflows:
  top:
    entity: doc
    steps:
      - id: kid
        workflow: leaf
      - merge: { kid: "${ steps.kid }" }
      - signal: go
        to: ${ input.other }
  waiter:
    entity: doc
    steps:
      - wait: go
      - merge: { got: true }
  leaf:
    entity: doc
    steps:
      - id: e
        activity: test.echo
        args: { v: 1 }
      - merge: { v: "${ steps.e.v }" }
`)
		other := start(t, eng, "leaf", nil)
		waiter := start(t, eng, "waiter", nil)
		mine := start(t, eng, "top", map[string]any{"other": waiter})
		work(t, eng, memflow.WorkerConfig{Root: mine})
		if got := result(t, eng, mine); !reflect.DeepEqual(got, map[string]any{"kid": map[string]any{"v": float64(1)}}) {
			t.Errorf("result %v", got)
		}
		in, err := eng.Get(ctx, other)
		if err != nil || in.Status != memflow.StatusRunning {
			t.Fatalf("the other instance: %+v, %v", in, err)
		}
		if evs, _ := eng.History(ctx, other); len(evs) != 1 {
			t.Errorf("the other instance was worked on: %d history rows", len(evs))
		}
		st, err := eng.Status(ctx, waiter)
		if err != nil || st.Status != memflow.StatusRunning || len(st.Tasks) != 1 || st.Tasks[0].Kind != "signal" || st.Tasks[0].Leased {
			t.Errorf("the signalled instance: %+v, %v; want its signal task pending, not taken", st, err)
		}
	})
}

// QueueServed tells whether a worker that would take a queue's tasks polled
// lately: none before a worker runs; a worker of every queue serves any; a
// worker of other queues or restricted to another tree does not.
func TestQueueServed(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := testCtx(t)
		eng := d.open(t, nil)
		served := func(queue, root string) bool {
			t.Helper()
			ok, err := eng.QueueServed(ctx, queue, root, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if served("default", "x") {
			t.Fatal("served before any worker ran")
		}
		stop := work(t, eng, memflow.WorkerConfig{Queues: []string{"mail"}})
		eventually(t, "the mail worker's heartbeat", func() bool { return served("mail", "x") })
		if served("default", "x") {
			t.Error("a mail worker serves default")
		}
		stop()
		stopTree := work(t, eng, memflow.WorkerConfig{Root: "r"})
		eventually(t, "the tree worker's heartbeat", func() bool { return served("default", "r") })
		if served("default", "x") {
			t.Error("a worker of tree r serves tree x")
		}
		stopTree()
		work(t, eng, memflow.WorkerConfig{})
		eventually(t, "the worker's heartbeat", func() bool { return served("default", "x") })
	})
}

var _ = context.Background
