package storetest

import (
	"context"
	"errors"
	"strings"
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
	attempts := map[string]int{} // each worker's latest claim
	claim := func(worker string, at time.Time) []store.Task {
		t.Helper()
		got, err := s.ClaimTasks(ctx, store.ClaimParams{Queues: []string{"q"}, Limit: 10, Lease: time.Minute, Worker: worker, Now: at})
		if err != nil {
			t.Fatalf("ClaimTasks: %v", err)
		}
		for _, g := range got {
			attempts[worker] = g.Attempts
		}
		return got
	}
	extendClaim := func(worker string, claimed int, until time.Time, want bool) {
		t.Helper()
		ok, err := s.ExtendLease(ctx, task.ID, worker, claimed, until)
		if err != nil || ok != want {
			t.Fatalf("ExtendLease(%d, %s, claim %d, %s) = %v, %v; want %v", task.ID, worker, claimed, until, ok, err, want)
		}
	}
	extend := func(worker string, until time.Time, want bool) {
		t.Helper()
		extendClaim(worker, attempts[worker], until, want)
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
	// w3 falls silent and claims its own task again: the older claim is
	// fenced out by its attempt count, though the worker id is the same.
	old := attempts["w3"]
	if got := claim("w3", now.Add(2*time.Hour)); len(got) != 1 || got[0].Attempts != old+1 {
		t.Fatalf("reclaim by the same worker = %+v, want attempt %d", got, old+1)
	}
	extendClaim("w3", old, now.Add(3*time.Hour), false)
	extend("w3", now.Add(3*time.Hour), true)
	if deleteTask(t, s, task.ID, old) {
		t.Errorf("DeleteTask by the older claim deleted the task")
	}
	if !deleteTask(t, s, task.ID, attempts["w3"]) {
		t.Errorf("DeleteTask by the holding claim found nothing")
	}
	extend("w3", now.Add(4*time.Hour), false)
	if _, err := s.ExtendLease(ctx, task.ID, "", 1, now); err == nil {
		t.Errorf("ExtendLease with no worker succeeded")
	}
}

// testReleaseAndTake pins ReleaseTask (a claim handed back without counting
// as an attempt, only by the claim that holds it) and TakeTasks (every task
// of one job and kind, removed and returned oldest due first).
func testReleaseAndTake(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	task := enqueue(t, s, store.Task{JobID: "r", Queue: "rq", Kind: "run", DueAt: now.Add(-time.Second)})[0]
	got, err := s.ClaimTasks(ctx, store.ClaimParams{Queues: []string{"rq"}, Limit: 1, Lease: time.Minute, Worker: "w", Now: now})
	if err != nil || len(got) != 1 || got[0].Attempts != 1 {
		t.Fatalf("claim = %+v, %v", got, err)
	}
	tx(t, s, func(tx store.Tx) error {
		if ok, err := tx.ReleaseTask(ctx, task.ID, 2, now); err != nil || ok {
			t.Errorf("ReleaseTask by a claim that does not hold it = %v, %v; want false", ok, err)
		}
		ok, err := tx.ReleaseTask(ctx, task.ID, 1, now)
		if err == nil && !ok {
			t.Errorf("ReleaseTask by the holding claim found nothing")
		}
		return err
	})
	got, err = s.ClaimTasks(ctx, store.ClaimParams{Queues: []string{"rq"}, Limit: 1, Lease: time.Minute, Worker: "w", Now: now})
	if err != nil || len(got) != 1 || got[0].Attempts != 1 {
		t.Fatalf("claim after release = %+v, %v; want the task again at attempt 1", got, err)
	}

	later := enqueue(t, s, store.Task{JobID: "k", Queue: "tq", Kind: "signal", DueAt: now.Add(2 * time.Second), Payload: []byte(`{"n":2}`)})
	first := enqueue(t, s, store.Task{JobID: "k", Queue: "tq", Kind: "signal", DueAt: now.Add(time.Second), Payload: []byte(`{"n":1}`)})
	enqueue(t, s, store.Task{JobID: "k", Queue: "tq", Kind: "timer", DueAt: now})
	enqueue(t, s, store.Task{JobID: "other", Queue: "tq", Kind: "signal", DueAt: now})
	tx(t, s, func(tx store.Tx) error {
		taken, err := tx.TakeTasks(ctx, "k", "signal")
		if err != nil {
			return err
		}
		if len(taken) != 2 || taken[0].ID != first[0].ID || taken[1].ID != later[0].ID || !strings.Contains(string(taken[0].Payload), "1") {
			t.Errorf("TakeTasks = %+v, want the two signal tasks of k, oldest due first", taken)
		}
		again, err := tx.TakeTasks(ctx, "k", "signal")
		if err == nil && len(again) != 0 {
			t.Errorf("TakeTasks twice = %+v, want none", again)
		}
		return err
	})
	left, err := s.ClaimTasks(ctx, store.ClaimParams{Queues: []string{"tq"}, Limit: 10, Lease: time.Minute, Worker: "w", Now: now.Add(time.Minute)})
	if err != nil || len(left) != 2 {
		t.Fatalf("tasks left after TakeTasks = %+v, %v; want the timer of k and the signal of other", left, err)
	}
}

// testCreateJob pins CreateJob: a taken id is ErrExists (at once, or from
// the commit on a store that pipelines writes) and the transaction that met
// it writes nothing.
func testCreateJob(t *testing.T, s store.Store) {
	ctx := context.Background()
	job := store.Job{ID: "cj", Entity: "e", Flow: "f", Version: "v", TaskQueue: "q"}
	tx(t, s, func(tx store.Tx) error { return tx.CreateJob(ctx, job) })
	err := s.InTx(ctx, func(tx store.Tx) error {
		if err := tx.CreateJob(ctx, job); err != nil {
			return err
		}
		return tx.EnqueueTasks(ctx, []store.Task{{JobID: "cj", Queue: "cjq", Kind: "run"}})
	})
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("CreateJob of a taken id: %v, want ErrExists", err)
	}
	got, err := s.ClaimTasks(ctx, store.ClaimParams{Queues: []string{"cjq"}, Limit: 10, Lease: time.Minute, Worker: "w"})
	if err != nil || len(got) != 0 {
		t.Errorf("the failed transaction left tasks: %+v, %v", got, err)
	}
}
