package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/memflow/memflow/internal/pgtest"
	"github.com/memflow/memflow/internal/store"
)

// TestPostgresFindUsesIndex loads 20,000 jobs and checks the plan of an
// indexed Find names the partial index, with custom and generic plans.
func TestPostgresFindUsesIndex(t *testing.T) {
	ctx := context.Background()
	dbURL := postgresURL(t)
	s := openPostgres(t, dbURL)
	conn := connectSchema(t, dbURL, store.SchemaName(s.App()))
	if _, err := conn.Exec(ctx, `INSERT INTO jobs (id, entity, context)
SELECT 'j' || g, CASE WHEN g % 10 = 0 THEN 'other' ELSE 'user' END,
       jsonb_build_object('email', 'u' || g || '@x.io', 'n', g, 'premium', g % 2 = 0)
FROM generate_series(1, 20000) g`); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateIndex(ctx, "user", "email"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `ANALYZE jobs`); err != nil {
		t.Fatal(err)
	}
	idx := store.IndexName("user", "email")
	f := store.Filter{{Path: "email", Op: "=", Value: "u123@x.io"}}
	got, err := s.Find(ctx, "user", f, store.FindParams{})
	if err != nil || len(got) != 1 || got[0].ID != "j123" {
		t.Fatalf("Find = %+v, %v; want j123", got, err)
	}
	q, args, err := store.PostgresFindSQL("user", f, store.FindParams{})
	if err != nil {
		t.Fatal(err)
	}
	plan := explain(t, conn, "EXPLAIN "+q, args...)
	if !strings.Contains(plan, idx) {
		t.Fatalf("custom plan does not use %s:\n%s", idx, plan)
	}
	t.Logf("custom plan:\n%s", plan)
	// A generic plan (what a cached prepared statement may switch to) must
	// prove the partial predicate too: the entity type is a literal.
	if _, err := conn.Exec(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Prepare(ctx, "findq", q); err != nil {
		t.Fatal(err)
	}
	plan = explain(t, conn, `EXPLAIN EXECUTE findq('"u123@x.io"'::jsonb, 100, 0)`)
	if !strings.Contains(plan, idx) {
		t.Fatalf("generic plan does not use %s:\n%s", idx, plan)
	}
	t.Logf("generic plan:\n%s", plan)
}

func explain(t *testing.T, conn *pgx.Conn, q string, args ...any) string {
	t.Helper()
	rows, err := conn.Query(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

func connectSchema(t *testing.T, dbURL, schema string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = schema
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestPostgresSeedSQL provisions app my-app in a throwaway database (the SQL
// names my_app literally) and runs the seed README's statements verbatim.
func TestPostgresSeedSQL(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.Database(t)
	s, err := store.Open(ctx, dbURL, "my-app")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	docs := []struct {
		id, entity, doc string
	}{
		{"r1", "research-agent", `{"status":"verified","isPremium":true,"confidence":0.9,"needsVerification":true}`},
		{"r2", "research-agent", `{"status":"draft","isPremium":true,"confidence":0.5,"needsVerification":false}`},
		{"r3", "research-agent", `{"status":"draft","isPremium":false,"confidence":0.95}`},
		{"x1", "other", `{"status":"draft","isPremium":true,"confidence":0.99}`},
	}
	err = s.InTx(ctx, func(tx store.Tx) error {
		for _, d := range docs {
			if _, err := tx.InsertJob(ctx, store.Job{ID: d.id, Entity: d.entity, Context: json.RawMessage(d.doc)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Verbatim from the seed README ("Same index via SQL").
	if _, err := conn.Exec(ctx, `CREATE INDEX idx_research_agents_premium ON my_app.jobs (id)
WHERE entity = 'research-agent' AND (context->>'isPremium')::boolean = true;`); err != nil {
		t.Fatalf("seed CREATE INDEX: %v", err)
	}
	query := func(q string) string {
		t.Helper()
		rows, err := conn.Query(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprint(vals...))
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return strings.Join(out, "; ")
	}
	// Verbatim from the spec (architecture.md, "Storage").
	if got := query(`SELECT id, context->>'status' AS status FROM my_app.jobs
WHERE entity = 'research-agent' AND (context->>'isPremium')::boolean = true;`); got != "r1verified; r2draft" {
		t.Errorf("spec query = %q, want r1 verified and r2 draft", got)
	}
	// Verbatim from the seed README ("Ad hoc query example").
	if got := query(`SELECT id, context->>'status' as status, context->>'confidence' as confidence
FROM my_app.jobs
WHERE entity = 'research-agent'
  AND (context->>'isPremium')::boolean = true
  AND (context->>'confidence')::numeric > 0.8;`); got != "r1verified0.9" {
		t.Errorf("ad hoc query = %q, want r1 verified 0.9", got)
	}
	if got := query(`SELECT count(*) FROM my_app.jobs WHERE entity = 'research-agent'`); got != "3" {
		t.Errorf("count = %s, want 3", got)
	}
	// The README's Entity.createIndex / Entity.find pair through the store.
	if err := s.CreateIndex(ctx, "research-agent", "isPremium"); err != nil {
		t.Fatal(err)
	}
	found, err := s.Find(ctx, "research-agent", store.Filter{{Path: "isPremium", Op: "=", Value: true}, {Path: "needsVerification", Op: "=", Value: true}}, store.FindParams{})
	if err != nil || len(found) != 1 || found[0].ID != "r1" {
		t.Errorf("Find premium needing verification = %+v, %v; want r1", found, err)
	}
}

// The store's connections plan each statement once (generic plans) unless
// the URL chooses otherwise.
func TestPostgresGenericPlans(t *testing.T) {
	ctx := context.Background()
	dbURL := postgresURL(t)
	if mode, err := store.PlanCacheMode(ctx, openPostgres(t, dbURL)); err != nil || mode != "force_generic_plan" {
		t.Errorf("plan_cache_mode %q, %v; want force_generic_plan", mode, err)
	}
	sep := "?"
	if strings.Contains(dbURL, "?") {
		sep = "&"
	}
	if mode, err := store.PlanCacheMode(ctx, openPostgres(t, dbURL+sep+"plan_cache_mode=auto")); err != nil || mode != "auto" {
		t.Errorf("plan_cache_mode %q, %v with the URL's auto; want auto", mode, err)
	}
}
