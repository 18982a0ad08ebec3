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
