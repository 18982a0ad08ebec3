package memflow_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/memflow/memflow"
)

const startOptionFlows = `
memflow: v1
entities:
  counter:
    schema:
      type: object
      properties: { count: { type: integer } }
workflows:
  count:
    entity: counter
    steps:
      - increment: { count: 1 }
      - id: e
        activity: test.echo
        args: { n: "${ entity.count }" }
    result: ${ entity }
  quick:
    entity: counter
    steps:
      - set: { count: 1 }
`

// Start options: a task queue (only a worker serving it runs the
// instance), a seed entity validated against the entity schema, and an
// expiry after which workers delete the ended instance's rows.
func TestStartOptions(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := testCtx(t)
		var mu sync.Mutex
		now := time.Now()
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		eng, err := memflow.Open(ctx, d.URL, memflow.Config{App: d.App, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { eng.Close() })
		newActs().register(t, eng)
		loadFlow(t, eng, startOptionFlows)

		// Queue and seed.
		id, err := eng.Start(ctx, "count", nil, memflow.WithTaskQueue("special"), memflow.WithEntity(map[string]any{"count": 41}))
		if err != nil {
			t.Fatal(err)
		}
		work(t, eng, memflow.WorkerConfig{Queues: []string{"default"}})
		other := start(t, eng, "count", nil)
		jsonEq(t, result(t, eng, other), `{"count":1}`)
		if in, err := eng.Get(ctx, id); err != nil || in.Status != memflow.StatusRunning {
			t.Fatalf("instance on queue special ran on a worker of default: %+v %v", in, err)
		}
		work(t, eng, memflow.WorkerConfig{Queues: []string{"special"}})
		jsonEq(t, result(t, eng, id), `{"count":42}`)
		for _, bad := range []struct {
			doc  any
			want string
		}{
			{map[string]any{"count": "x"}, "entity.count: want integer, got string"},
			{[]any{1}, "entity: want a JSON object"},
		} {
			_, err := eng.Start(ctx, "count", nil, memflow.WithEntity(bad.doc))
			if !errors.Is(err, memflow.ErrInvalidInput) || !strings.Contains(err.Error(), bad.want) {
				t.Errorf("seed %v: %v, want ErrInvalidInput %q", bad.doc, err, bad.want)
			}
		}

		// Expiry: kept until it passes, then deleted with its history.
		gone := start(t, eng, "quick", nil, memflow.WithExpire(time.Hour))
		kept := start(t, eng, "quick", nil)
		if in, err := eng.Get(ctx, gone); err != nil || in.Status != memflow.StatusCompleted {
			t.Fatalf("expiring instance before its expiry: %+v %v", in, err)
		}
		if _, err := eng.Start(ctx, "quick", nil, memflow.WithExpire(-time.Second)); err == nil {
			t.Error("negative expiry: no error")
		}
		mu.Lock()
		now = now.Add(2 * time.Hour)
		mu.Unlock()
		// A worker of a new engine sweeps at its first poll (then about
		// once a minute).
		eng2, err := memflow.Open(ctx, d.URL, memflow.Config{App: d.App, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { eng2.Close() })
		work(t, eng2, memflow.WorkerConfig{Queues: []string{"none"}, Poll: 10 * time.Millisecond})
		eventually(t, "the expired instance to be deleted", func() bool {
			_, err := eng.Get(ctx, gone)
			return memflow.IsNotFound(err)
		})
		if h, err := eng.History(ctx, gone); err != nil || len(h) != 0 {
			t.Errorf("history of the deleted instance: %d rows, %v", len(h), err)
		}
		if _, err := eng.Get(ctx, kept); err != nil {
			t.Errorf("instance without expiry: %v", err)
		}
	})
}
