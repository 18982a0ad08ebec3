package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/memflow/memflow/internal/store"
)

// testPendingSignals: signals kept for an absent id come back in the order
// kept, minus the expired ones, once; an existing id keeps nothing; the
// expired ones are deleted in bounded batches.
func testPendingSignals(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now()
	keep := func(target, name, data string, exp time.Time) bool {
		t.Helper()
		var kept bool
		tx(t, s, func(tx store.Tx) error {
			var err error
			kept, err = tx.KeepSignal(ctx, store.PendingSignal{Target: target, Name: name,
				Data: json.RawMessage(data), SentAt: now, ExpiresAt: exp})
			return err
		})
		return kept
	}
	later, earlier := now.Add(time.Hour), now.Add(-time.Minute)
	for i, d := range []string{`1`, `2`, `3`} {
		exp := later
		if i == 1 {
			exp = earlier
		}
		if !keep("absent", "n", d, exp) {
			t.Fatal("a signal for an absent id was not kept")
		}
	}
	keep("other", "n", `9`, earlier)
	insert(t, s, store.Job{ID: "here", Entity: "e"})
	if keep("here", "n", `1`, later) {
		t.Error("a signal for an existing id was kept")
	}
	if l, err := s.PendingSignals(ctx, "absent"); err != nil || len(l) != 3 {
		t.Fatalf("pending signals: %v, %v", l, err)
	}
	var got []store.PendingSignal
	tx(t, s, func(tx store.Tx) error {
		var err error
		got, err = tx.TakePendingSignals(ctx, "absent", now)
		return err
	})
	if len(got) != 2 || string(got[0].Data) != `1` || string(got[1].Data) != `3` || got[0].Name != "n" {
		t.Fatalf("taken: %+v, want data 1 then 3", got)
	}
	tx(t, s, func(tx store.Tx) error {
		var err error
		got, err = tx.TakePendingSignals(ctx, "absent", now)
		return err
	})
	if len(got) != 0 {
		t.Errorf("taken twice: %+v", got)
	}
	keep("other", "n", `8`, later)
	n, err := s.DeleteExpiredSignals(ctx, now, 10)
	if err != nil || n != 1 {
		t.Fatalf("delete expired: %d, %v; want 1", n, err)
	}
	if l, err := s.PendingSignals(ctx, "other"); err != nil || len(l) != 1 || string(l[0].Data) != `8` {
		t.Errorf("after delete expired: %+v, %v", l, err)
	}
	if _, err := s.DeleteExpiredSignals(ctx, now, 0); err == nil {
		t.Error("delete expired with limit 0: no error")
	}
}

// testExpiredJobs: ended jobs past their expiry go with their tasks and
// history, a bounded batch at a time; running ones and others stay.
func testExpiredJobs(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now()
	past := now.Add(-time.Minute)
	for _, j := range []store.Job{
		{ID: "old1", Entity: "e", Status: store.StatusCompleted},
		{ID: "old2", Entity: "e", Status: store.StatusFailed},
		{ID: "old3", Entity: "e", Status: store.StatusCancelled},
		{ID: "live", Entity: "e", Status: store.StatusRunning},
		{ID: "later", Entity: "e", Status: store.StatusCompleted},
		{ID: "keep", Entity: "e", Status: store.StatusCompleted},
	} {
		insert(t, s, j)
		at := past
		switch j.ID {
		case "later":
			at = now.Add(time.Hour)
		case "keep":
			continue
		}
		tx(t, s, func(tx store.Tx) error {
			if err := tx.EnqueueTasks(ctx, []store.Task{{JobID: j.ID, Queue: "q", Kind: "k"}}); err != nil {
				return err
			}
			if err := tx.AppendHistory(ctx, []store.HistoryEvent{{JobID: j.ID, Kind: "started"}}); err != nil {
				return err
			}
			return tx.SetJobExpiry(ctx, j.ID, at)
		})
	}
	n, err := s.DeleteExpiredJobs(ctx, now, 2)
	if err != nil || n != 2 {
		t.Fatalf("first batch: %d, %v; want 2", n, err)
	}
	if n, err = s.DeleteExpiredJobs(ctx, now, 10); err != nil || n != 1 {
		t.Fatalf("second batch: %d, %v; want 1", n, err)
	}
	for _, id := range []string{"old1", "old2", "old3"} {
		if _, err := s.GetJob(ctx, id); err == nil {
			t.Errorf("%s not deleted", id)
		}
		if h, err := s.History(ctx, id); err != nil || len(h) != 0 {
			t.Errorf("history of %s: %d rows, %v", id, len(h), err)
		}
	}
	for _, id := range []string{"live", "later", "keep"} {
		if _, err := s.GetJob(ctx, id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	tasks, err := s.ClaimTasks(ctx, store.ClaimParams{Limit: 10, Lease: time.Minute, Worker: "w", Now: now.Add(time.Second)})
	if err != nil || len(tasks) != 2 {
		t.Errorf("tasks left: %d (%v), want those of live and later", len(tasks), err)
	}
}
