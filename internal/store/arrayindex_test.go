package store_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memflow/memflow/internal/store"
)

// TestPostgresContainsUsesGIN loads 20,000 jobs with a tags array and checks
// a "contains" Find is planned on the partial GIN index CreateArrayIndex
// makes, with custom and generic plans, and returns the right rows.
func TestPostgresContainsUsesGIN(t *testing.T) {
	ctx := context.Background()
	dbURL := postgresURL(t)
	s := openPostgres(t, dbURL)
	conn := connectSchema(t, dbURL, store.SchemaName(s.App()))
	if _, err := conn.Exec(ctx, `INSERT INTO jobs (id, entity, context)
SELECT 'j' || g, CASE WHEN g % 10 = 0 THEN 'other' ELSE 'user' END,
       jsonb_build_object('tags', jsonb_build_array('t' || (g % 1000), 'all'), 'n', g)
FROM generate_series(1, 20000) g`); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateArrayIndex(ctx, "user", "tags"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `ANALYZE jobs`); err != nil {
		t.Fatal(err)
	}
	idx := store.ArrayIndexName("user", "tags")
	f := store.Filter{{Path: "tags", Op: "contains", Value: "t5"}}
	got, err := s.Find(ctx, "user", f, store.FindParams{})
	if err != nil || len(got) != 20 {
		t.Fatalf("Find = %d jobs, %v; want 20", len(got), err)
	}
	for _, j := range got {
		if !strings.HasSuffix(j.ID, "5") || j.Entity != "user" {
			t.Fatalf("Find returned %s (%s)", j.ID, j.Entity)
		}
	}
	q, args, err := store.FindSQL(ctx, s, "user", f, store.FindParams{})
	if err != nil {
		t.Fatal(err)
	}
	plan := explain(t, conn, "EXPLAIN "+q, args...)
	if !strings.Contains(plan, idx) {
		t.Fatalf("custom plan does not use %s:\n%s", idx, plan)
	}
	t.Logf("custom plan:\n%s", plan)
	if _, err := conn.Exec(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Prepare(ctx, "findq", q); err != nil {
		t.Fatal(err)
	}
	plan = explain(t, conn, `EXPLAIN EXECUTE findq('["t5"]'::jsonb, 101, 0)`)
	if !strings.Contains(plan, idx) {
		t.Fatalf("generic plan does not use %s:\n%s", idx, plan)
	}
	t.Logf("generic plan:\n%s", plan)
}

// TestSQLiteContainsUsesMembers loads 20,000 jobs, half before and half
// after CreateArrayIndex (filled from the rows there, then kept by
// triggers), and checks a "contains" Find is planned as a lookup in the
// job_members index and returns the right rows.
func TestSQLiteContainsUsesMembers(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "arr.db")
	s, err := store.Open(ctx, "sqlite:"+path, "arr")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	load := func(from, to int) {
		t.Helper()
		if _, err := db.ExecContext(ctx, `WITH RECURSIVE g(n) AS (SELECT $1 UNION ALL SELECT n + 1 FROM g WHERE n < $2)
INSERT INTO jobs (id, entity, context, created_at, updated_at)
SELECT 'j' || n, CASE WHEN n % 10 = 0 THEN 'other' ELSE 'user' END,
       json_object('tags', json_array('t' || (n % 1000), 'all'), 'n', n), 0, 0
FROM g`, from, to); err != nil {
			t.Fatal(err)
		}
	}
	load(1, 10000)
	f := store.Filter{{Path: "tags", Op: "contains", Value: "t5"}}
	q, _, err := store.FindSQL(ctx, s, "user", f, store.FindParams{})
	if err != nil || strings.Contains(q, "job_members") {
		t.Fatalf("before the index the query reads job_members (%v):\n%s", err, q)
	}
	if err := s.CreateArrayIndex(ctx, "user", "tags"); err != nil {
		t.Fatal(err)
	}
	load(10001, 20000)
	got, err := s.Find(ctx, "user", f, store.FindParams{})
	if err != nil || len(got) != 20 {
		t.Fatalf("Find = %d jobs, %v; want 20", len(got), err)
	}
	for _, j := range got {
		if !strings.HasSuffix(j.ID, "5") || j.Entity != "user" {
			t.Fatalf("Find returned %s (%s)", j.ID, j.Entity)
		}
	}
	q, args, err := store.FindSQL(ctx, s, "user", f, store.FindParams{})
	if err != nil {
		t.Fatal(err)
	}
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
	all := strings.Join(plan, "\n")
	if !strings.Contains(all, "SEARCH job_members USING") || !strings.Contains(all, "job_members_lookup") {
		t.Fatalf("plan does not look the value up in job_members_lookup:\n%s", all)
	}
	if strings.Contains(all, "SCAN jobs") {
		t.Fatalf("plan scans jobs:\n%s", all)
	}
	t.Logf("plan: %s", strings.Join(plan, " | "))
}
