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
		if want := `workflow id "wt1" is taken by an instance of "wt"`; err.Error() != want {
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
