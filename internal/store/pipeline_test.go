package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/memflow/memflow/internal/store"
)

// A transition on Postgres pipelines its statements: reading and locking the
// instance (with BEGIN) is one round trip, and deleting the task, writing
// the instance, its new tasks and its history and committing is the second,
// however many tasks and history rows it writes. A task found gone fails the
// whole transaction with ErrTaskGone and writes nothing.
func TestPostgresTransitionRoundTrips(t *testing.T) {
	ctx := context.Background()
	s := openPostgres(t, postgresURL(t))
	now := time.Now().UTC()
	err := s.InTx(ctx, func(tx store.Tx) error {
		_, err := tx.InsertJob(ctx, store.Job{ID: "rt", Entity: "e", Status: store.StatusRunning, Flow: "f", Version: "v",
			TaskQueue: "q", Context: json.RawMessage(`{}`), State: json.RawMessage(`{}`), CreatedAt: now, UpdatedAt: now})
		if err != nil {
			return err
		}
		return tx.EnqueueTasks(ctx, []store.Task{{JobID: "rt", Queue: "q", Kind: "run", Payload: json.RawMessage(`{}`)}})
	})
	if err != nil {
		t.Fatal(err)
	}
	claimed, err := s.ClaimTasks(ctx, store.ClaimParams{Queues: []string{"q"}, Limit: 1, Lease: time.Minute, Worker: "w", Now: now.Add(time.Second)})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim = %+v, %v", claimed, err)
	}
	task := claimed[0]

	transition := func(count int) error {
		return s.InTx(ctx, func(tx store.Tx) error {
			job, err := tx.GetJob(ctx, "rt", true)
			if err != nil {
				return err
			}
			if _, err := tx.DeleteTask(ctx, task.ID, task.Attempts); err != nil {
				return err
			}
			job.Context = json.RawMessage(`{"n":1}`)
			if err := tx.UpdateJob(ctx, job); err != nil {
				return err
			}
			var tasks []store.Task
			var events []store.HistoryEvent
			for range count {
				tasks = append(tasks, store.Task{JobID: "rt", Queue: "q", Kind: "timer", Payload: json.RawMessage(`{}`), DueAt: now.Add(time.Hour)})
				events = append(events, store.HistoryEvent{JobID: "rt", Kind: "step", Detail: json.RawMessage(`{}`)})
			}
			if err := tx.EnqueueTasks(ctx, tasks); err != nil {
				return err
			}
			return tx.AppendHistory(ctx, events)
		})
	}
	before := store.RoundTrips()
	if err := transition(5); err != nil {
		t.Fatal(err)
	}
	if n := store.RoundTrips() - before; n != 2 {
		t.Errorf("a transition writing 5 tasks and 5 history rows took %d round trips, want 2", n)
	}
	hist, err := s.History(ctx, "rt")
	if err != nil || len(hist) != 5 || hist[4].Seq != 5 {
		t.Fatalf("history = %+v, %v; want 5 rows numbered 1-5", hist, err)
	}

	// The task is gone now: the same transition again must fail whole.
	err = transition(3)
	if !errors.Is(err, store.ErrTaskGone) {
		t.Fatalf("transition with its task gone: %v, want ErrTaskGone", err)
	}
	if hist, _ := s.History(ctx, "rt"); len(hist) != 5 {
		t.Errorf("a failed transition wrote history: %d rows", len(hist))
	}
}
