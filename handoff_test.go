package memflow_test

import (
	"context"
	"testing"
	"time"

	"github.com/memflow/memflow"
	"github.com/memflow/memflow/internal/store"
)

// A start or transition whose next task a worker of the same engine can run
// hands it over in memory, leased in the same transaction: a one-activity
// workflow on Postgres then costs four round trips and no claim: the
// start's three (BEGIN with the catalogue read; the lock and take of
// signals kept for its id; the insert, tasks, history and COMMIT) and the
// activity commit's one (the instance handed over with the task is not read
// again: BEGIN, the task's deletion, the revision-checked update, history
// and COMMIT go together).
func TestLocalHandOffSkipsTheClaim(t *testing.T) {
	d := postgresDB(t)
	eng := d.open(t, newActs())
	loadFlow(t, eng, `
memflow: v1
workflows:
  one:
    entity: box
    steps:
      - id: r
        activity: test.echo
        args: { v: 1 }
`)
	work(t, eng, memflow.WorkerConfig{Poll: time.Hour})
	result(t, eng, start(t, eng, "one", nil)) // warm: catalogue, prepared statements, first claim
	before := store.RoundTrips()
	id := start(t, eng, "one", nil)
	jsonEq(t, result(t, eng, id), `{}`)
	if n := store.RoundTrips() - before; n != 4 {
		t.Errorf("a one-activity workflow took %d round trips, want 4 (no claim)", n)
	}
	hist, err := eng.History(context.Background(), id)
	if err != nil || len(hist) == 0 || hist[len(hist)-1].Kind != "completed" {
		t.Fatalf("history %+v, %v", hist, err)
	}
}
