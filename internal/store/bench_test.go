package store_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/memflow/memflow/internal/store"
)

// BenchmarkTransition measures one step transition's commit: lock the job,
// apply one entity command, enqueue the next task, delete the claimed one,
// append one history row, in one transaction.
func BenchmarkTransition(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		s, err := store.Open(context.Background(), "sqlite:"+filepath.Join(b.TempDir(), "bench.db"), "bench")
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		benchTransition(b, s)
	})
	b.Run("postgres", func(b *testing.B) {
		benchTransition(b, openPostgres(b, postgresURL(b)))
	})
}

func benchTransition(b *testing.B, s store.Store) {
	ctx := context.Background()
	const id = "bench-job"
	var prev int64
	err := s.InTx(ctx, func(tx store.Tx) error {
		if _, err := tx.InsertJob(ctx, store.Job{ID: id, Entity: "bench", Context: json.RawMessage(`{"n":0,"user":{"name":"x"}}`)}); err != nil {
			return err
		}
		t := []store.Task{{JobID: id, Queue: "q", Kind: "step"}}
		err := tx.EnqueueTasks(ctx, t)
		prev = t[0].ID
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	cmd := []store.Command{{Op: store.OpIncrement, Path: "n", Value: 1}}
	payload := json.RawMessage(`{"state":3}`)
	detail := json.RawMessage(`{"output":{"ok":true}}`)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		err := s.InTx(ctx, func(tx store.Tx) error {
			if _, err := tx.GetJob(ctx, id, true); err != nil {
				return err
			}
			if _, err := tx.Apply(ctx, id, cmd); err != nil {
				return err
			}
			next := []store.Task{{JobID: id, Queue: "q", Kind: "step", Payload: payload}}
			if err := tx.EnqueueTasks(ctx, next); err != nil {
				return err
			}
			if ok, err := tx.DeleteTask(ctx, prev, 0); err != nil || !ok {
				b.Fatalf("delete task %d: %v %v", prev, ok, err)
			}
			prev = next[0].ID
			return tx.AppendHistory(ctx, []store.HistoryEvent{{JobID: id, Kind: "step", Step: "s", State: 3, Detail: detail}})
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
