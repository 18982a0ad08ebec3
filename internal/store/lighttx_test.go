package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestClaimRestoresSynchronous checks that the lighter commit of a claim on
// SQLite does not leak into the transitions that follow on the connection.
func TestClaimRestoresSynchronous(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "s.db"), "app")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := st.(*sqlStore).b.(*sqliteBackend)
	level := func() string {
		var v string
		if err := b.db.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := level()
	if before != "2" {
		t.Fatalf("synchronous = %s before any claim, want 2 (FULL)", before)
	}
	if err := st.InTx(ctx, func(tx Tx) error {
		return tx.EnqueueTasks(ctx, []Task{{JobID: "j", Queue: "q", Kind: "run"}})
	}); err != nil {
		t.Fatal(err)
	}
	tasks, err := st.ClaimTasks(ctx, ClaimParams{Limit: 5, Lease: time.Minute, Worker: "w"})
	if err != nil || len(tasks) != 1 {
		t.Fatalf("claim: %v, %v", tasks, err)
	}
	if after := level(); after != before {
		t.Errorf("synchronous = %s after a claim, want %s", after, before)
	}
}
