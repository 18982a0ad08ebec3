package memflow_test

import (
	"context"
	"testing"

	"github.com/memflow/memflow"
)

// An activity's result commits without reading its instance again (the
// claim's copy is checked by revision at commit). A signal that reached the
// instance while the activity ran changed it since that copy: the commit
// must see the change, not overwrite it, so the wait after the activity
// receives the signal.
func TestActivityResultKeepsWhatChangedMeanwhile(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		eng := d.open(t, nil)
		started, release := make(chan struct{}, 1), make(chan struct{})
		if err := eng.Register("test.slow", func(ctx context.Context) (string, error) {
			started <- struct{}{}
			select {
			case <-release:
				return "done", nil
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}); err != nil {
			t.Fatal(err)
		}
		loadFlow(t, eng, `
memflow: v1
workflows:
  w:
    entity: doc
    steps:
      - id: a
        activity: test.slow
      - id: got
        wait: go
      - return: { a: "${ steps.a }", got: "${ steps.got }" }
`)
		work(t, eng, memflow.WorkerConfig{})
		id := start(t, eng, "w", nil)
		select {
		case <-started:
		case <-testCtx(t).Done():
			t.Fatal("the activity never started")
		}
		// The signal is kept in the instance: nothing waits for it yet.
		if err := eng.Signal(testCtx(t), id, "go", map[string]any{"n": 1}); err != nil {
			t.Fatal(err)
		}
		close(release)
		jsonEq(t, result(t, eng, id), `{"a":"done","got":{"n":1}}`)
	})
}
