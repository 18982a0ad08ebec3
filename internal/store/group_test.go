package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/memflow/memflow/internal/store"
)

// Transactions asked for at once are committed together, each still all
// or nothing: one that fails (or panics) writes nothing, and the others
// commit.
func TestGroupCommitKeepsEachTransactionAtomic(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testGroupCommit(t, openSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { testGroupCommit(t, openPostgres(t, postgresURL(t))) })
}

func testGroupCommit(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n = 60
	// Functions i%10 == 5 create a job whose id is taken: on Postgres the
	// insert is queued and its error reaches the group at a later
	// function's read or at the commit.
	if err := s.InTx(ctx, func(tx store.Tx) error {
		return tx.CreateJob(ctx, store.Job{ID: "taken", Entity: "e", Flow: "f", Version: "v", TaskQueue: "q"})
	}); err != nil {
		t.Fatal(err)
	}
	errBoom := errors.New("boom")
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.InTx(ctx, func(tx store.Tx) error {
				id := fmt.Sprintf("g%d", i)
				if _, err := tx.InsertJob(ctx, store.Job{ID: id, Entity: "e", Flow: "f", Version: "v", TaskQueue: "q"}); err != nil {
					return err
				}
				if err := tx.EnqueueTasks(ctx, []store.Task{{JobID: id, Queue: "gq", Kind: "run"}}); err != nil {
					return err
				}
				switch i % 10 {
				case 3:
					return errBoom
				case 5:
					return tx.CreateJob(ctx, store.Job{ID: "taken", Entity: "e", Flow: "f", Version: "v", TaskQueue: "q"})
				case 7:
					panic("a transition went wrong")
				}
				return nil
			})
		}()
	}
	wg.Wait()
	if store.Grouped(s) == 0 {
		t.Errorf("%d transactions asked for at once were all committed one by one", n)
	}
	for i := range n {
		_, err := s.GetJob(ctx, fmt.Sprintf("g%d", i))
		switch i % 10 {
		case 3:
			if !errors.Is(errs[i], errBoom) || !errors.Is(err, store.ErrNotFound) {
				t.Errorf("g%d failed with %v; its job: %v, want it absent", i, errs[i], err)
			}
		case 5:
			if !errors.Is(errs[i], store.ErrExists) || !errors.Is(err, store.ErrNotFound) {
				t.Errorf("g%d created a taken id, InTx returned %v; its job: %v, want ErrExists and it absent", i, errs[i], err)
			}
		case 7:
			if errs[i] == nil || !errors.Is(err, store.ErrNotFound) {
				t.Errorf("g%d panicked, InTx returned %v; its job: %v, want it absent", i, errs[i], err)
			}
		default:
			if errs[i] != nil || err != nil {
				t.Errorf("g%d: InTx %v, job %v; want committed", i, errs[i], err)
			}
		}
	}
	tasks, err := s.ClaimTasks(ctx, store.ClaimParams{Queues: []string{"gq"}, Limit: 100, Lease: 60e9, Worker: "w"})
	if err != nil || len(tasks) != n-3*n/10 {
		t.Errorf("claimed %d tasks, %v; want %d (none of the failed transactions')", len(tasks), err, n-3*n/10)
	}
}

// A transaction function that panics while alone in its group leaves the
// one SQLite connection free: the next transaction runs (it used to wait
// forever for the connection the unfinished transaction held).
func TestSQLiteLonePanicFreesTheConnection(t *testing.T) {
	s := openSQLite(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.InTx(ctx, func(tx store.Tx) error {
		if _, err := tx.InsertJob(ctx, store.Job{ID: "p", Entity: "e", Flow: "f", Version: "v", TaskQueue: "q"}); err != nil {
			return err
		}
		panic("a transition went wrong")
	})
	if err == nil {
		t.Fatal("a panicking transaction function returned no error")
	}
	err = s.InTx(ctx, func(tx store.Tx) error {
		_, err := tx.InsertJob(ctx, store.Job{ID: "next", Entity: "e", Flow: "f", Version: "v", TaskQueue: "q"})
		return err
	})
	if err != nil {
		t.Fatalf("the transaction after a panic: %v", err)
	}
	if _, err := s.GetJob(ctx, "p"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the panicking transaction's job: %v, want it absent", err)
	}
}
