package memflow_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/memflow/memflow"
	"github.com/memflow/memflow/flows/demo"
	"github.com/memflow/memflow/internal/pgtest"
)

// The seed's SQL, verbatim, finds the research agents the example flow ran
// on Postgres. The statement names the schema my_app, so the test runs in a
// database of its own (dropped afterwards) with the app id my-app.
func TestSeedSQLAfterResearchAgent(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.Database(t)

	d := db{URL: dbURL, App: "my-app"}
	eng := d.open(t, nil)
	if err := demo.Register(eng); err != nil {
		t.Fatal(err)
	}
	if err := eng.LoadFlows(ctx, "flows/examples"); err != nil {
		t.Fatal(err)
	}
	work(t, eng, memflow.WorkerConfig{})
	premium := start(t, eng, "researchAgent", map[string]any{"query": "q1", "isPremium": true})
	basic := start(t, eng, "researchAgent", map[string]any{"query": "q2"})
	result(t, eng, premium)
	result(t, eng, basic)

	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT id, context->>'status' AS status FROM my_app.jobs
WHERE entity = 'research-agent' AND (context->>'isPremium')::boolean = true;`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ id, status string }
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.id, &x.status)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].id != premium || got[0].status != "completed" {
		t.Errorf("seed query returned %v, want only %s completed", got, premium)
	}
}
