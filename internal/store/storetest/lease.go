package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
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

// testWriteTransition pins WriteTransition: it writes what CreateJob or
// UpdateJob, DeleteJobTasks, EnqueueTasks and AppendHistory would, in that
// order, and a job whose insert or update fails leaves nothing of it.
func testWriteTransition(t *testing.T, s store.Store) {
	ctx := context.Background()
	write := func(w store.Transition) error {
		return s.InTx(ctx, func(tx store.Tx) error { return tx.WriteTransition(ctx, w) })
	}
	kinds := func(id string) []string {
		t.Helper()
		tasks, err := s.JobTasks(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, tk := range tasks {
			out = append(out, tk.Kind)
		}
		slices.Sort(out)
		return out
	}
	seqs := func(id string) []string {
		t.Helper()
		hist, err := s.History(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, h := range hist {
			out = append(out, fmt.Sprintf("%d:%s", h.Seq, h.Kind))
		}
		return out
	}
	now := time.Now().UTC()
	job := &store.Job{ID: "wt", Entity: "e", Context: json.RawMessage(`{"n":1}`), Flow: "f", Version: "v", TaskQueue: "q", State: json.RawMessage(`{}`)}
	err := write(store.Transition{Job: job, Insert: true,
		Tasks: []store.Task{{JobID: "wt", Queue: "wtq", Kind: "run"},
			{JobID: "wt", Queue: "wtq", Kind: "leased", Worker: "me", LeaseUntil: now.Add(time.Hour), Attempts: 1}},
		History: []store.HistoryEvent{{JobID: "wt", Kind: "started"}, {JobID: "wt", Kind: "step"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := getDoc(t, s, "wt"); !reflect.DeepEqual(got, mustJSON(t, `{"n":1}`)) {
		t.Errorf("entity %v", got)
	}
	if got := kinds("wt"); !reflect.DeepEqual(got, []string{"leased", "run"}) {
		t.Errorf("tasks %v", got)
	}
	claimed, err := s.ClaimTasks(ctx, store.ClaimParams{Queues: []string{"wtq"}, Limit: 10, Lease: time.Minute, Worker: "w"})
	if err != nil || len(claimed) != 1 || claimed[0].Kind != "run" {
		t.Errorf("claimed %+v, %v; want the run task only (the other is leased at birth)", claimed, err)
	}
	if got := seqs("wt"); !reflect.DeepEqual(got, []string{"1:started", "2:step"}) {
		t.Errorf("history %v", got)
	}

	// A taken id: ErrExists, and none of its tasks or history.
	err = write(store.Transition{Job: &store.Job{ID: "wt", Entity: "e", Flow: "f", Version: "v", TaskQueue: "q"}, Insert: true,
		Tasks: []store.Task{{JobID: "wt", Queue: "wtq", Kind: "again"}}, History: []store.HistoryEvent{{JobID: "wt", Kind: "again"}}})
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("insert of a taken id: %v, want ErrExists", err)
	}
	if got := kinds("wt"); !reflect.DeepEqual(got, []string{"leased", "run"}) {
		t.Errorf("tasks after the failed insert %v", got)
	}

	// An update that ends the job: its tasks go, the new task of another
	// job stays, history numbers on.
	job.Context, job.Status = json.RawMessage(`{"n":2}`), store.StatusCompleted
	job.CompletedAt = &now
	err = write(store.Transition{Job: job, DropTasks: true,
		Tasks: []store.Task{{JobID: "other", Queue: "wtq", Kind: "child"}}, History: []store.HistoryEvent{{JobID: "wt", Kind: "completed"}}})
	if err != nil {
		t.Fatal(err)
	}
	j, err := s.GetJob(ctx, "wt")
	if err != nil || j.Status != store.StatusCompleted || string(j.Context) != `{"n": 2}` && string(j.Context) != `{"n":2}` {
		t.Errorf("after the update: %+v, %v", j, err)
	}
	if got := kinds("wt"); len(got) != 0 {
		t.Errorf("tasks of the ended job %v, want none", got)
	}
	if got := kinds("other"); !reflect.DeepEqual(got, []string{"child"}) {
		t.Errorf("tasks of the other job %v", got)
	}
	if got := seqs("wt"); !reflect.DeepEqual(got, []string{"1:started", "2:step", "3:completed"}) {
		t.Errorf("history %v", got)
	}

	// Unlocked: written only while the row is at the revision read.
	stale, err := s.GetJob(ctx, "wt")
	if err != nil {
		t.Fatal(err)
	}
	if stale.Rev != job.Rev {
		t.Fatalf("revision read %d, written %d", stale.Rev, job.Rev)
	}
	fresh := *stale
	fresh.Error = "changed"
	if err := write(store.Transition{Job: &fresh, Unlocked: true}); err != nil {
		t.Fatalf("unlocked write at the revision read: %v", err)
	}
	if fresh.Rev != stale.Rev+1 {
		t.Errorf("revision after the write %d, want %d", fresh.Rev, stale.Rev+1)
	}
	stale.Error = "lost update"
	err = write(store.Transition{Job: stale, Unlocked: true,
		Tasks: []store.Task{{JobID: "wt", Queue: "wtq", Kind: "stale"}}, History: []store.HistoryEvent{{JobID: "wt", Kind: "stale"}}})
	if !errors.Is(err, store.ErrChanged) {
		t.Fatalf("unlocked write of a changed job: %v, want ErrChanged", err)
	}
	if j, err := s.GetJob(ctx, "wt"); err != nil || j.Error != "changed" || j.Rev != fresh.Rev {
		t.Errorf("after the refused write: %+v, %v", j, err)
	}
	if got := kinds("wt"); len(got) != 0 {
		t.Errorf("tasks of the refused write %v", got)
	}
	if got := seqs("wt"); len(got) != 3 {
		t.Errorf("history after the refused write %v", got)
	}

	// An update of a job that is gone: ErrNotFound, nothing written.
	err = write(store.Transition{Job: &store.Job{ID: "gone", Entity: "e", Status: store.StatusRunning},
		Tasks: []store.Task{{JobID: "gone", Queue: "wtq", Kind: "run"}}, History: []store.HistoryEvent{{JobID: "gone", Kind: "step"}}})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of a missing job: %v, want ErrNotFound", err)
	}
	if got := kinds("gone"); len(got) != 0 {
		t.Errorf("tasks of the failed update %v", got)
	}
	if got := seqs("gone"); len(got) != 0 {
		t.Errorf("history of the failed update %v", got)
	}
}
