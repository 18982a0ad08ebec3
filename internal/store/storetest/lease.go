package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/memflow/memflow/internal/store"
)

// testExtendLease pins lease extension: the holder keeps its task past the
// first lease; once the lease expired and another worker claimed the task,
// the first worker's extension fails and changes nothing.
func testExtendLease(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	task := enqueue(t, s, store.Task{JobID: "a", Queue: "q", Kind: "activity", DueAt: now.Add(-time.Second)})[0]
	claim := func(worker string, at time.Time) []store.Task {
		t.Helper()
		got, err := s.ClaimTasks(ctx, store.ClaimParams{Queues: []string{"q"}, Limit: 10, Lease: time.Minute, Worker: worker, Now: at})
		if err != nil {
			t.Fatalf("ClaimTasks: %v", err)
		}
		return got
	}
	extend := func(worker string, until time.Time, want bool) {
		t.Helper()
		ok, err := s.ExtendLease(ctx, task.ID, worker, until)
		if err != nil || ok != want {
			t.Fatalf("ExtendLease(%d, %s, %s) = %v, %v; want %v", task.ID, worker, until, ok, err, want)
		}
	}
	if got := claim("w1", now); len(got) != 1 || got[0].ID != task.ID {
		t.Fatalf("claim = %+v, want task %d", got, task.ID)
	}
	extend("w1", now.Add(5*time.Minute), true)
	if got := claim("w2", now.Add(2*time.Minute)); len(got) != 0 {
		t.Fatalf("claimed within an extended lease: %+v", got)
	}
	// A later beat moves it again, and then the holder falls silent.
	extend("w1", now.Add(6*time.Minute), true)
	if got := claim("w2", now.Add(7*time.Minute)); len(got) != 1 || got[0].Worker != "w2" || got[0].Attempts != 2 {
		t.Fatalf("claim after the lease expired = %+v, want the task for w2 (attempt 2)", got)
	}
	extend("w1", now.Add(time.Hour), false)
	if got := claim("w3", now.Add(8*time.Minute+time.Second)); len(got) != 1 || got[0].Worker != "w3" {
		t.Fatalf("w1's refused extension kept the task: claim after w2's lease = %+v", got)
	}
	extend("w3", now.Add(time.Hour), true)
	tx(t, s, func(tx store.Tx) error {
		_, err := tx.DeleteTask(ctx, task.ID)
		return err
	})
	extend("w3", now.Add(2*time.Hour), false)
	if _, err := s.ExtendLease(ctx, task.ID, "", now); err == nil {
		t.Errorf("ExtendLease with no worker succeeded")
	}
}
