package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memflow/memflow/internal/store"
)

// TestSQLiteFindUsesIndex checks SQLite's plan for an indexed Find names the
// partial expression index.
func TestSQLiteFindUsesIndex(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "idx.db")
	s, err := store.Open(ctx, "sqlite:"+path, "idx")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.InTx(ctx, func(tx store.Tx) error {
		for i := range 500 {
			doc := fmt.Sprintf(`{"email":"u%d@x.io","n":%d}`, i, i)
			if _, err := tx.InsertJob(ctx, store.Job{ID: fmt.Sprint("j", i), Entity: "user", Context: json.RawMessage(doc)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateIndex(ctx, "user", "email"); err != nil {
		t.Fatal(err)
	}
	f := store.Filter{{Path: "email", Op: "=", Value: "u7@x.io"}}
	got, err := s.Find(ctx, "user", f, store.FindParams{})
	if err != nil || len(got) != 1 || got[0].ID != "j7" {
		t.Fatalf("Find = %+v, %v", got, err)
	}
	q, args, err := store.SQLiteFindSQL("user", f, store.FindParams{})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	idx := store.IndexName("user", "email")
	if !strings.Contains(strings.Join(plan, "\n"), idx) {
		t.Fatalf("plan does not use %s:\n%s", idx, strings.Join(plan, "\n"))
	}
	t.Logf("plan: %s", strings.Join(plan, " | "))
}
