package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/memflow/memflow/internal/store"
)

// TestClaimWithJobs checks that a claim asked for jobs returns each task's
// job as committed, and nil for a task whose job is gone.
func TestClaimWithJobs(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { claimWithJobs(t, openSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { claimWithJobs(t, openPostgres(t, postgresURL(t))) })
}

func claimWithJobs(t *testing.T, s store.Store) {
	ctx := context.Background()
	err := s.InTx(ctx, func(tx store.Tx) error {
		if _, err := tx.InsertJob(ctx, store.Job{ID: "a", Entity: "e", Context: json.RawMessage(`{"n":1}`),
			Flow: "f", Version: "v1", State: json.RawMessage(`{"s":2}`)}); err != nil {
			return err
		}
		return tx.EnqueueTasks(ctx, []store.Task{{JobID: "a", Queue: "q", Kind: "run"},
			{JobID: "orphan", Queue: "q", Kind: "run"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := s.ClaimTasks(ctx, store.ClaimParams{Limit: 10, Lease: time.Minute, Worker: "w", WithJobs: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 2 {
		t.Fatalf("claimed %d tasks, want 2", len(tasks))
	}
	for _, tk := range tasks {
		switch tk.JobID {
		case "a":
			if tk.Job == nil || tk.Job.ID != "a" || tk.Job.Flow != "f" || tk.Job.Version != "v1" ||
				string(tk.Job.State) != `{"s": 2}` && string(tk.Job.State) != `{"s":2}` {
				t.Errorf("task of a carries job %+v", tk.Job)
			}
		case "orphan":
			if tk.Job != nil {
				t.Errorf("task of a missing job carries %+v", tk.Job)
			}
		}
	}
	// Without WithJobs no job is read.
	err = s.InTx(ctx, func(tx store.Tx) error {
		return tx.EnqueueTasks(ctx, []store.Task{{JobID: "a", Queue: "q", Kind: "run"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	tasks, err = s.ClaimTasks(ctx, store.ClaimParams{Limit: 10, Lease: time.Minute, Worker: "w"})
	if err != nil || len(tasks) != 1 || tasks[0].Job != nil {
		t.Errorf("claim without jobs: %+v, %v", tasks, err)
	}
}
