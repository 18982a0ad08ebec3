package memflow_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memflow/memflow"
)

// Starting an id that an instance of another workflow holds is an error
// naming the holder; the same workflow gets its instance back. A child step
// naming such an id fails with that message.
func TestStartIDTakenByOtherWorkflow(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := context.Background()
		eng := d.open(t, nil)
		loadFlow(t, eng, `
memflow: v1
workflows:
  wt:
    entity: doc
    steps:
      - set: { by: wt }
  ap:
    entity: doc
    steps:
      - set: { by: ap }
  parent:
    entity: doc
    steps:
      - try:
          - workflow: ap
            workflowId: wt1
        catch:
          - set: { type: "${ error.type }", message: "${ error.message }" }
  detached:
    entity: doc
    steps:
      - try:
          - workflow: ap
            workflowId: wt1
            await: false
        catch:
          - set: { type: "${ error.type }" }
`)
		work(t, eng, memflow.WorkerConfig{})
		id := start(t, eng, "wt", nil, memflow.WithID("wt1"))
		jsonEq(t, result(t, eng, id), `{"by":"wt"}`)

		_, err := eng.Start(ctx, "ap", nil, memflow.WithID("wt1"))
		var taken *memflow.IDTakenError
		if !errors.Is(err, memflow.ErrIDTaken) || !errors.As(err, &taken) || taken.Workflow != "wt" {
			t.Fatalf("start ap as wt1: err %v, want ErrIDTaken held by wt", err)
		}
		if want := `start ap: workflow id "wt1" is taken by an instance of "wt"`; err.Error() != want {
			t.Errorf("error %q, want %q", err, want)
		}
		if again, err := eng.Start(ctx, "wt", nil, memflow.WithID("wt1")); err != nil || again != "wt1" {
			t.Errorf("idempotent start of wt1 = %q, %v", again, err)
		}
		in, err := eng.Get(ctx, "wt1")
		if err != nil || in.Workflow != "wt" {
			t.Fatalf("wt1 after the refused start: %+v, %v", in, err)
		}

		res := result(t, eng, start(t, eng, "parent", nil)).(map[string]any)
		if res["type"] != "IDTaken" || !contains(res["message"], `workflow id "wt1" is taken by an instance of "wt"`) {
			t.Errorf("child step joining another workflow's id: %v", res)
		}
		jsonEq(t, result(t, eng, start(t, eng, "detached", nil)), `{"type":"IDTaken"}`)
	})
}

// contains reports whether v is a string holding sub.
func contains(v any, sub string) bool {
	s, ok := v.(string)
	return ok && strings.Contains(s, sub)
}

// Without a URL each app gets its own embedded file, .memflow/<app>.db; an
// explicit SQLite file refuses a second app.
func TestDefaultDatabasePerApp(t *testing.T) {
	t.Chdir(t.TempDir())
	ctx := context.Background()
	for _, app := range []string{memflow.DefaultApp, "other"} {
		eng, err := memflow.Open(ctx, "", memflow.Config{App: app})
		if err != nil {
			t.Fatalf("open app %s: %v", app, err)
		}
		eng.Close()
	}
	for _, f := range []string{".memflow/memflow.db", ".memflow/other.db"} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("default file: %v", err)
		}
	}
	_, err := memflow.Open(ctx, "sqlite:.memflow/memflow.db", memflow.Config{App: "other"})
	if want := `sqlite file ".memflow/memflow.db" holds app "memflow", not "other"`; err == nil || err.Error() != want {
		t.Errorf("open memflow's file as other: %v, want %q", err, want)
	}
}

// A forEach with `await:` or `signal:` does not load (it used to load and
// then block on every hook regardless).
func TestForEachRefusesAwaitAndSignal(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		eng := d.open(t, nil)
		path := filepath.Join(t.TempDir(), "flow.yaml")
		writeFile(t, path, `
memflow: v1
workflows:
  fan:
    entity: doc
    steps:
      - forEach: ${ [1, 2] }
        hook: h
        await: false
hooks:
  h:
    steps:
      - set: { done: true }
`)
		err := eng.LoadFlows(context.Background(), path)
		want := "flow.yaml:8:9: `await` is not allowed on forEach: forEach always waits for each branch to end"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("load: %v, want %q", err, want)
		}
		if _, err := eng.Start(context.Background(), "fan", nil); !memflow.IsNotFound(err) {
			t.Errorf("start of the refused workflow: %v, want not found", err)
		}
	})
}

// A detached child (await: false) is its own instance: it keeps running
// when its parent completes or fails. Cancelling the parent still cancels it.
func TestDetachedChildOutlivesParent(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := context.Background()
		eng := d.open(t, nil)
		loadFlow(t, eng, `
memflow: v1
workflows:
  completes:
    entity: doc
    steps:
      - workflow: kid
        workflowId: kid-of-${ workflow.id }
        await: false
  fails:
    entity: doc
    steps:
      - workflow: kid
        workflowId: kid-of-${ workflow.id }
        await: false
      - fail: parent broke
  waits:
    entity: doc
    steps:
      - workflow: kid
        workflowId: kid-of-${ workflow.id }
        await: false
      - wait: never
  kid:
    entity: doc
    steps:
      - id: go
        wait: go
      - set: { got: "${ steps.go }" }
`)
		work(t, eng, memflow.WorkerConfig{})
		result(t, eng, start(t, eng, "completes", nil, memflow.WithID("p1")))
		if we := failure(t, eng, start(t, eng, "fails", nil, memflow.WithID("p2"))); we.Message != "parent broke" {
			t.Errorf("parent p2: %v", we)
		}
		for _, kid := range []string{"kid-of-p1", "kid-of-p2"} {
			if err := eng.Signal(ctx, kid, "go", kid); err != nil {
				t.Fatalf("signal %s after its parent ended: %v", kid, err)
			}
			jsonEq(t, result(t, eng, kid), `{"got":"`+kid+`"}`)
		}

		start(t, eng, "waits", nil, memflow.WithID("p3"))
		eventually(t, "kid-of-p3 to start", func() bool {
			_, err := eng.Get(ctx, "kid-of-p3")
			return err == nil
		})
		if err := eng.Cancel(ctx, "p3"); err != nil {
			t.Fatal(err)
		}
		if we := failure(t, eng, "kid-of-p3"); we.Status != memflow.StatusCancelled {
			t.Errorf("detached child of a cancelled parent: %s", we.Status)
		}
	})
}

// An instance completes when its main thread and every hook it started have
// ended; its result then includes the hooks' changes. A failing main thread
// fails the instance at once and stops its hooks.
func TestInstanceWaitsForItsHooks(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := context.Background()
		eng := d.open(t, nil)
		loadFlow(t, eng, `
memflow: v1
workflows:
  last:
    entity: doc
    steps:
      - set: { main: true }
      - hook: mark
        await: false
  slow:
    entity: doc
    steps:
      - hook: later
        await: false
      - return: "${ {main: 'done'} }"
  counts:
    entity: doc
    steps:
      - hook: later
        await: false
    result: ${ entity }
  broken:
    entity: doc
    steps:
      - hook: later
        await: false
      - fail: main broke
hooks:
  mark:
    steps:
      - set: { main: true, hooked: true }
  later:
    steps:
      - id: v
        wait: go
      - merge: { late: "${ steps.v }" }
`)
		work(t, eng, memflow.WorkerConfig{})
		jsonEq(t, result(t, eng, start(t, eng, "last", nil)), `{"main":true,"hooked":true}`)

		for _, wf := range []string{"slow", "counts"} {
			id := start(t, eng, wf, nil)
			eventually(t, wf+"'s main thread to end", func() bool {
				for _, ev := range history(t, eng, id) {
					if ev.Kind == "hook-started" {
						return true
					}
				}
				return false
			})
			in, err := eng.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if in.Status != memflow.StatusRunning {
				t.Fatalf("%s with a hook waiting is %s, want running", wf, in.Status)
			}
			if err := eng.Signal(ctx, id, "go", 7); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"slow": `{"main":"done"}`, "counts": `{"late":7}`}[wf]
			jsonEq(t, result(t, eng, id), want)
		}

		id := start(t, eng, "broken", nil)
		if we := failure(t, eng, id); we.Message != "main broke" {
			t.Errorf("broken: %v", we)
		}
		for _, ev := range history(t, eng, id) {
			if ev.Kind == "hook-completed" {
				t.Errorf("a hook completed after the main thread failed: %s", ev.Detail)
			}
		}
	})
}

// A hook's taskQueue routes its thread's tasks: a worker serving only that
// queue runs the hook's activities, another the workflow's.
func TestHookTaskQueue(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		const flow = `
memflow: v1
workflows:
  main:
    entity: doc
    taskQueue: wq
    steps:
      - id: mine
        activity: test.where
      - id: helped
        hook: h
    result: "${ {main: steps.mine, hook: steps.helped} }"
hooks:
  h:
    taskQueue: hq
    steps:
      - id: w
        activity: test.where
    result: ${ steps.w }
`
		engines := map[string]*memflow.Engine{}
		for _, q := range []string{"wq", "hq"} {
			eng := d.open(t, nil)
			if err := eng.Register("test.where", func(ctx context.Context) (string, error) { return q, nil }); err != nil {
				t.Fatal(err)
			}
			loadFlow(t, eng, flow)
			work(t, eng, memflow.WorkerConfig{Queues: []string{q}})
			engines[q] = eng
		}
		id := start(t, engines["wq"], "main", nil)
		jsonEq(t, result(t, engines["wq"], id), `{"main":"wq","hook":"hq"}`)
	})
}

// A signal step addressed to a workflow that has ended fails with type
// SignalUndeliverable, naming the target and its status (one addressed to
// an id no instance holds yet is kept for it: pending_test.go).
func TestSignalStepUndeliverable(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		eng := d.open(t, nil)
		loadFlow(t, eng, `
memflow: v1
workflows:
  sender:
    entity: doc
    steps:
      - try:
          - signal: go
            to: ${ input.to }
            data: 1
        catch:
          - set: { type: "${ error.type }", message: "${ error.message }" }
    result: ${ entity }
  done:
    entity: doc
    steps:
      - set: { done: true }
  waiter:
    entity: doc
    steps:
      - id: got
        wait: go
    result: ${ steps.got }
`)
		work(t, eng, memflow.WorkerConfig{})
		result(t, eng, start(t, eng, "done", nil, memflow.WithID("done-1")))
		for to, want := range map[string]string{
			"done-1": `signal "go" to workflow "done-1" not delivered: the workflow is completed`,
		} {
			res := result(t, eng, start(t, eng, "sender", map[string]any{"to": to})).(map[string]any)
			if res["type"] != "SignalUndeliverable" || !contains(res["message"], want) {
				t.Errorf("signal to %s: %v, want SignalUndeliverable %q", to, res, want)
			}
		}
		waiter := start(t, eng, "waiter", nil)
		jsonEq(t, result(t, eng, start(t, eng, "sender", map[string]any{"to": waiter})), `{}`)
		jsonEq(t, result(t, eng, waiter), `1`)
	})
}

// Arguments that break an input schema are reported by path, as flows name
// them, without the schema's internal URL.
func TestInputErrorsReadable(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := context.Background()
		eng := d.open(t, nil)
		loadFlow(t, eng, `
memflow: v1
workflows:
  kid:
    entity: doc
    input:
      type: object
      required: [query]
      properties:
        query: { type: string }
        count: { type: integer }
        tags: { type: array, items: { type: string } }
    steps:
      - set: { q: "${ input.query }" }
  parent:
    entity: doc
    steps:
      - try:
          - workflow: kid
            args: { count: 2 }
        catch:
          - set: { message: "${ error.message }" }
    result: ${ entity.message }
`)
		work(t, eng, memflow.WorkerConfig{})
		for _, c := range []struct {
			args any
			want string
		}{
			{map[string]any{}, `input: missing property "query"`},
			{map[string]any{"query": "q", "count": "x"}, `input.count: want integer, got string`},
			{map[string]any{"query": "q", "tags": []any{"a", 3}}, `input.tags[1]: want string, got number`},
		} {
			_, err := eng.Start(ctx, "kid", c.args)
			if !errors.Is(err, memflow.ErrInvalidInput) || !strings.Contains(err.Error(), c.want) ||
				strings.Contains(err.Error(), "memflow:///") || strings.Contains(err.Error(), "at ''") {
				t.Errorf("start kid with %v: %v, want %q", c.args, err, c.want)
			}
		}
		msg := result(t, eng, start(t, eng, "parent", nil))
		if !contains(msg, `child kid arguments: input: missing property "query"`) {
			t.Errorf("child with bad arguments: %v", msg)
		}
	})
}
