package memflow_test

import (
	"strings"
	"testing"

	"github.com/memflow/memflow"
)

// A cancel step cancels another instance by id: its running activity's
// context, its hooks and its awaited child go with it, as with Cancel.
func TestCancelStepInstance(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := testCtx(t)
		acts := newActs()
		eng := d.open(t, acts)
		loadFlow(t, eng, `
memflow: v1
workflows:
  victim:
    entity: doc
    steps:
      - hook: side
        await: false
      - workflow: kid
        workflowId: kid-${ workflow.id }
        await: false
      - workflow: kid
        workflowId: awaited-${ workflow.id }
  kid:
    entity: doc
    steps:
      - wait: never
  killer:
    entity: doc
    steps:
      - id: c
        cancel: ${ input.id }
      - id: again
        cancel: ${ input.id }
    result: { first: "${ steps.c }" }
  ghost:
    entity: doc
    steps:
      - cancel: nobody-here
hooks:
  side:
    steps:
      - activity: test.block
`)
		work(t, eng, memflow.WorkerConfig{})
		v := start(t, eng, "victim", nil, memflow.WithID("v1"))
		eventually(t, "the hook's activity to run", func() bool { return acts.count("block") == 1 })
		eventually(t, "the awaited child to start", func() bool { _, err := eng.Get(ctx, "awaited-v1"); return err == nil })
		jsonEq(t, result(t, eng, start(t, eng, "killer", map[string]any{"id": v})), `{"first":{"id":"v1","status":"running"}}`)
		we := failure(t, eng, v)
		if we.Status != memflow.StatusCancelled || !strings.Contains(we.Message, `cancelled by workflow`) {
			t.Errorf("victim: %+v", we)
		}
		eventually(t, "the hook's activity context to be cancelled", func() bool { return acts.count("block-cancelled") == 1 })
		eventually(t, "the awaited child to be cancelled", func() bool {
			in, err := eng.Get(ctx, "awaited-v1")
			return err == nil && in.Status == memflow.StatusCancelled
		})
		eventually(t, "the detached child to be cancelled with its parent", func() bool {
			in, err := eng.Get(ctx, "kid-v1")
			return err == nil && in.Status == memflow.StatusCancelled
		})
		we = failure(t, eng, start(t, eng, "ghost", nil))
		if !strings.Contains(we.Message, `cancel workflow "nobody-here": no such workflow`) {
			t.Errorf("cancel of an unknown id: %s", we.Message)
		}
	})
}

// cancel: { hook: NAME } stops the running runs of that hook without
// cancelling the instance: their activities' contexts are cancelled, a
// step awaiting one fails with type Cancelled (catchable), and the instance
// completes.
func TestCancelStepHook(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := testCtx(t)
		acts := newActs()
		eng := d.open(t, acts)
		loadFlow(t, eng, `
memflow: v1
workflows:
  host:
    entity: doc
    steps:
      - id: both
        parallel:
          - try:
              - hook: slow
            catch:
              - merge: { caught: "${ error.type }" }
          - steps:
              - hook: slow
                await: false
              - wait: go
              - id: stop
                cancel: { hook: slow }
              - merge: { stopped: "${ steps.stop.stopped }" }
    result: ${ entity }
hooks:
  slow:
    steps:
      - activity: test.block
`)
		work(t, eng, memflow.WorkerConfig{})
		id := start(t, eng, "host", nil)
		eventually(t, "both hook activities to run", func() bool { return acts.count("block") == 2 })
		if err := eng.Signal(ctx, id, "go", nil); err != nil {
			t.Fatal(err)
		}
		jsonEq(t, result(t, eng, id), `{"caught":"Cancelled","stopped":2}`)
		eventually(t, "both activity contexts to be cancelled", func() bool { return acts.count("block-cancelled") == 2 })
	})
}
