package store_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/memflow/memflow/internal/store"
)

// A row written before trees were recorded (root_id NULL) reads as its own
// root, and its tree lists the children started under it since.
func TestTreeOfRowWithoutRoot(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "memflow.db")
	s, err := store.Open(ctx, "sqlite:"+path, "test")
	if err != nil {
		t.Fatal(err)
	}
	insertJob := func(j store.Job) {
		t.Helper()
		if err := s.InTx(ctx, func(tx store.Tx) error { _, err := tx.InsertJob(ctx, j); return err }); err != nil {
			t.Fatal(err)
		}
	}
	insertJob(store.Job{ID: "old", Entity: "e"})
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE jobs SET root_id = NULL WHERE id = 'old'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err = store.Open(ctx, "sqlite:"+path, "test"); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	j, err := s.GetJob(ctx, "old")
	if err != nil || j.Root != "old" || j.Parent != "" {
		t.Fatalf("old: %+v, %v; want its own root", j, err)
	}
	insertJob(store.Job{ID: "old.kid", Entity: "e", Root: "old", Parent: "old", Depth: 1})
	jobs, err := s.ListTree(ctx, "old", "")
	if err != nil || len(jobs) != 2 || jobs[0].ID != "old" || jobs[1].ID != "old.kid" {
		t.Fatalf("ListTree(old) = %+v, %v; want old, old.kid", jobs, err)
	}
}
