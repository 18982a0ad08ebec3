package memflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/memflow/memflow"
	"github.com/memflow/memflow/internal/store"
)

// openLimits opens an engine on d with limits lim and the test activities.
func (d db) openLimits(t *testing.T, acts *testActs, lim memflow.Limits) *memflow.Engine {
	t.Helper()
	eng, err := memflow.Open(context.Background(), d.URL, memflow.Config{App: d.App, Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	if acts != nil {
		acts.register(t, eng)
	}
	return eng
}

// openStore opens d's store directly, to read instance trees.
func (d db) openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), d.URL, d.App)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// tree lists the instances of id's tree with status ("" every status).
func tree(t *testing.T, st store.Store, id, status string) []store.Job {
	t.Helper()
	jobs, err := st.ListTree(context.Background(), id, status)
	if err != nil {
		t.Fatalf("list tree of %s: %v", id, err)
	}
	return jobs
}

// stepErrors lists the detail of id's "error" history rows of that type.
func stepErrors(t *testing.T, eng *memflow.Engine, id, typ string) []map[string]any {
	t.Helper()
	evs, err := eng.History(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, ev := range evs {
		var d map[string]any
		if ev.Kind == "error" && json.Unmarshal(ev.Detail, &d) == nil && d["type"] == typ {
			out = append(out, d)
		}
	}
	return out
}

const whoFlow = `
memflow: v1
workflows:
  who:
    entity: doc
    steps:
      - set: { who: "${ input.who }" }
  fan:
    entity: doc
    steps:
      - id: all
        forEach: ${ ["a", "b", "c"] }
        steps:
          - id: k
            workflow: who
            args: { who: "${ item }" }
    result: ${ steps.all }
  host:
    entity: doc
    steps:
      - wait: done
  both:
    entity: doc
    steps:
      - id: k
        workflow: who
        args: { who: main }
      - id: h
        hook: side
    result: { main: "${ steps.k }", hook: "${ steps.h }" }
hooks:
  spawn:
    steps:
      - id: k
        workflow: who
        args: { who: "${ input.who }" }
      - append: { got: "${ steps.k }" }
  side:
    steps:
      - id: k
        workflow: who
        args: { who: hook }
    result: ${ steps.k }
`

// Children started with the default id by different branches, hook runs or
// graphs of one instance are different instances, each with its own result
// (they used to share one id, so every step got the first child's result).
func TestDefaultChildIDsAreUnique(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := context.Background()
		eng := d.open(t, nil)
		loadFlow(t, eng, whoFlow)
		work(t, eng, memflow.WorkerConfig{})

		fan := start(t, eng, "fan", nil, memflow.WithID("fan"))
		jsonEq(t, result(t, eng, fan), `[{"who":"a"},{"who":"b"},{"who":"c"}]`)
		kids := map[string]bool{}
		for _, j := range tree(t, d.openStore(t), fan, "") {
			kids[j.ID] = true
		}
		for _, id := range []string{"fan.k.1", "fan.k.2", "fan.k.3"} {
			if !kids[id] {
				t.Errorf("no child %s in the tree of fan: %v", id, kids)
			}
		}

		// The same hook started twice from outside starts two children.
		host := start(t, eng, "host", nil)
		for _, who := range []string{"x", "y"} {
			if err := eng.Hook(ctx, host, "spawn", map[string]any{"who": who}); err != nil {
				t.Fatal(err)
			}
		}
		var got struct {
			Got []struct{ Who string } `json:"got"`
		}
		eventually(t, "both hooks to record their child", func() bool {
			raw, err := eng.Entity(ctx, host)
			return err == nil && json.Unmarshal(raw, &got) == nil && len(got.Got) == 2
		})
		whos := []string{got.Got[0].Who, got.Got[1].Who}
		sort.Strings(whos)
		if whos[0] != "x" || whos[1] != "y" {
			t.Errorf("the two hook runs got children %v, want x and y", whos)
		}
		if err := eng.Signal(ctx, host, "done", nil); err != nil {
			t.Fatal(err)
		}
		result(t, eng, host)

		// A workflow step and a hook step with the same id.
		jsonEq(t, result(t, eng, start(t, eng, "both", nil)), `{"main":{"who":"main"},"hook":{"who":"hook"}}`)
	})
}

// An explicit workflowId keeps its meaning: two steps naming the same id
// share one child. A default id is never joined: one already taken (here
// by an explicit start) is skipped for the next number.
func TestExplicitChildIDStillJoins(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		eng := d.open(t, nil)
		loadFlow(t, eng, `
memflow: v1
workflows:
  who:
    entity: doc
    steps:
      - set: { who: "${ input.who }" }
  twice:
    entity: doc
    steps:
      - id: all
        forEach: ${ ["a", "b"] }
        steps:
          - workflow: who
            workflowId: shared-${ workflow.id }
            args: { who: "${ item }" }
    result: ${ steps.all }
  one:
    entity: doc
    steps:
      - id: k
        workflow: who
        args: { who: mine }
    result: ${ steps.k }
`)
		work(t, eng, memflow.WorkerConfig{})
		jsonEq(t, result(t, eng, start(t, eng, "twice", nil, memflow.WithID("tw"))), `[{"who":"a"},{"who":"a"}]`)

		start(t, eng, "who", map[string]any{"who": "squatter"}, memflow.WithID("one.k.1"))
		jsonEq(t, result(t, eng, start(t, eng, "one", nil, memflow.WithID("one"))), `{"who":"mine"}`)
		jsonEq(t, result(t, eng, "one.k.2"), `{"who":"mine"}`)
	})
}

// forkFlow is the runaway fork of issue 9: fa starts two detached fb, each
// fb starts fa again. The condition is always true in practice; it only
// keeps the recursion from being static.
const forkFlow = `
memflow: v1
workflows:
  fa:
    entity: doc
    steps:
      - workflow: fb
        await: false
        when: ${ input.n < 1000000 }
        args: { n: "${ input.n + 1 }" }
      - workflow: fb
        await: false
        when: ${ input.n < 1000000 }
        args: { n: "${ input.n + 1 }" }
  fb:
    entity: doc
    steps:
      - workflow: fa
        await: false
        when: ${ input.n < 1000000 }
        args: { n: "${ input.n + 1 }" }
`

// A runaway fork stops at MaxDescendants: the child steps past the limit
// fail with LimitExceeded, naming the root, the count and the limit.
func TestRunawayForkStopsAtMaxDescendants(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		const limit = 20
		eng := d.openLimits(t, nil, memflow.Limits{MaxDescendants: limit})
		st := d.openStore(t)
		loadFlow(t, eng, forkFlow)
		work(t, eng, memflow.WorkerConfig{})
		root := start(t, eng, "fa", map[string]any{"n": 0}, memflow.WithID("fork"))
		eventually(t, "the fork to stop", func() bool {
			return len(tree(t, st, root, store.StatusRunning)) == 0
		})
		all := tree(t, st, root, "")
		if len(all) != limit+1 {
			t.Fatalf("the tree holds %d instances, want the root and %d descendants", len(all), limit)
		}
		refused := 0
		for _, j := range all {
			if j.Root != root || (j.ID != root && (j.Parent == "" || j.Depth < 1)) {
				t.Errorf("instance %s: root %q parent %q depth %d", j.ID, j.Root, j.Parent, j.Depth)
			}
			if j.Status != store.StatusFailed {
				continue
			}
			for _, e := range stepErrors(t, eng, j.ID, "LimitExceeded") {
				refused++
				msg, _ := e["message"].(string)
				if want := `root workflow "fork" already started 20 descendants (limit 20)`; !strings.Contains(msg, want) {
					t.Errorf("%s: LimitExceeded message %q lacks %q", j.ID, msg, want)
				}
			}
		}
		if refused == 0 {
			t.Errorf("no instance of the tree recorded a LimitExceeded error")
		}
	})
}

// A child deeper than MaxDepth is refused with LimitExceeded, which the flow
// can catch.
func TestChildDepthLimit(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		eng := d.openLimits(t, nil, memflow.Limits{MaxDepth: 3})
		loadFlow(t, eng, `
memflow: v1
workflows:
  deep:
    entity: doc
    steps:
      - try:
          - id: c
            workflow: deep
            when: ${ input.n < 1000000 }
            args: { n: "${ input.n + 1 }" }
        catch:
          - return: { depth: "${ input.n }", type: "${ error.type }", message: "${ error.message }" }
    result: ${ steps.c }
`)
		work(t, eng, memflow.WorkerConfig{})
		got, _ := result(t, eng, start(t, eng, "deep", map[string]any{"n": 0}, memflow.WithID("dp"))).(map[string]any)
		if got["depth"] != 3.0 || got["type"] != "LimitExceeded" {
			t.Fatalf("result %v, want the instance at depth 3 catching LimitExceeded", got)
		}
		if msg, _ := got["message"].(string); !strings.Contains(msg, `4 levels below its root workflow "dp" (limit 3)`) {
			t.Errorf("message %q does not name the depth, the root and the limit", msg)
		}
	})
}

const treeFlow = `
memflow: v1
workflows:
  top:
    entity: doc
    steps:
      - id: m
        workflow: mid
        await: false
      - wait: never
        when: ${ input.hold }
  mid:
    entity: doc
    steps:
      - id: l
        workflow: leaf
        await: false
      - wait: never
  leaf:
    entity: doc
    steps:
      - activity: test.block
        timeout: 1m
`

// CancelTree reaches detached descendants of a root that already completed
// (which Cancel refuses), their running activities see the cancellation,
// and below an inner instance it cancels only that instance's subtree.
func TestCancelTree(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := context.Background()
		acts := newActs()
		eng := d.open(t, acts)
		st := d.openStore(t)
		loadFlow(t, eng, treeFlow)
		work(t, eng, memflow.WorkerConfig{})

		top := start(t, eng, "top", map[string]any{"hold": false}, memflow.WithID("done"))
		result(t, eng, top)
		eventually(t, "the leaf's activity to start", func() bool { return acts.count("block") == 1 })
		if err := eng.Cancel(ctx, top); err == nil || !strings.Contains(err.Error(), "already completed") {
			t.Errorf("Cancel of a completed root: %v, want already completed", err)
		}
		n, err := eng.CancelTree(ctx, top)
		if err != nil || n != 2 {
			t.Fatalf("CancelTree(%s) = %d, %v; want 2 (mid and leaf)", top, n, err)
		}
		if we := failure(t, eng, "done.m.1"); we.Status != memflow.StatusCancelled || !strings.Contains(we.Message, `the tree of workflow "done" was cancelled`) {
			t.Errorf("mid: %s %q, want cancelled with the tree of done", we.Status, we.Message)
		}
		// The leaf is cancelled by CancelTree or, first, by its parent's cancel.
		if we := failure(t, eng, "done.m.1.l.1"); we.Status != memflow.StatusCancelled {
			t.Errorf("leaf: %s %q, want cancelled", we.Status, we.Message)
		}
		eventually(t, "the leaf's activity to see the cancel", func() bool { return acts.count("block-cancelled") == 1 })
		if got := tree(t, st, top, store.StatusRunning); len(got) != 0 {
			t.Errorf("still running after CancelTree: %v", got)
		}
		if n, err := eng.CancelTree(ctx, top); err != nil || n != 0 {
			t.Errorf("second CancelTree = %d, %v; want 0", n, err)
		}

		// Below an inner instance: its subtree only; then the rest from the root.
		held := start(t, eng, "top", map[string]any{"hold": true}, memflow.WithID("held"))
		eventually(t, "the second leaf's activity to start", func() bool { return acts.count("block") == 2 })
		if n, err := eng.CancelTree(ctx, "held.m.1"); err != nil || n != 2 {
			t.Fatalf("CancelTree(held.m.1) = %d, %v; want 2 (mid and leaf)", n, err)
		}
		if j, err := st.GetJob(ctx, held); err != nil || j.Status != store.StatusRunning {
			t.Fatalf("the root after cancelling its child's tree: %v, %v; want running", j, err)
		}
		if n, err := eng.CancelTree(ctx, held); err != nil || n != 1 {
			t.Fatalf("CancelTree(held) = %d, %v; want 1 (the root)", n, err)
		}
		if we := failure(t, eng, held); we.Status != memflow.StatusCancelled || we.Message != "cancelled" {
			t.Errorf("root: %s %q", we.Status, we.Message)
		}
		eventually(t, "the second leaf's activity to see the cancel", func() bool { return acts.count("block-cancelled") == 2 })

		if _, err := eng.CancelTree(ctx, "nope"); !errors.Is(err, memflow.ErrNotFound) {
			t.Errorf("CancelTree(unknown) err = %v, want ErrNotFound", err)
		}
	})
}

// CancelTree converges while the tree keeps forking: when it returns, no
// instance of the tree runs, so none can start more.
func TestCancelTreeStopsRunawayFork(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := context.Background()
		eng := d.openLimits(t, nil, memflow.Limits{MaxDescendants: 5000})
		st := d.openStore(t)
		loadFlow(t, eng, forkFlow)
		work(t, eng, memflow.WorkerConfig{})
		root := start(t, eng, "fa", map[string]any{"n": 0}, memflow.WithID("storm"))
		eventually(t, "the fork to spread", func() bool { return len(tree(t, st, root, "")) >= 10 })
		if _, err := eng.CancelTree(ctx, root); err != nil {
			t.Fatal(err)
		}
		if running := tree(t, st, root, store.StatusRunning); len(running) != 0 {
			t.Errorf("%d instances still running after CancelTree", len(running))
		}
		// The instances that ran when the tree was cancelled ended cancelled
		// (by CancelTree, by their parent's cancel, or by their own child step
		// meeting the closed tree), not failed.
		all := tree(t, st, root, "")
		for _, j := range all {
			if j.Status == store.StatusFailed {
				t.Errorf("%s failed: %s", j.ID, j.Error)
			}
		}
		if len(tree(t, st, root, store.StatusCancelled)) == 0 {
			t.Errorf("no instance of the %d-instance tree was cancelled", len(all))
		}
		if len(all) >= 5000 {
			t.Errorf("the fork reached its descendant limit: CancelTree did not stop it")
		}
	})
}
