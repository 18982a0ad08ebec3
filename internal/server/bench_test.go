package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/memflow/memflow"
	"github.com/memflow/memflow/internal/pgtest"
)

// BenchmarkInstanceList100k measures GET /api/v1/instances (and the counts
// the instances page asks for) with 100,000 instances in a Postgres app:
// p50 and p95 per filter, first pages and a deep page by cursor.
//
//	go test -run XXX -bench InstanceList100k -benchtime 200x ./internal/server
func BenchmarkInstanceList100k(b *testing.B) {
	url := pgtest.URL(b)
	app := pgtest.App(b, url)
	ctx := context.Background()
	eng, err := memflow.Open(ctx, url, memflow.Config{App: app})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	file := filepath.Join(b.TempDir(), "order.yaml")
	if err := os.WriteFile(file, []byte(orderFlow), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := eng.LoadFlows(ctx, file); err != nil {
		b.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	// 100,000 instances one millisecond apart: four workflows, 10% running,
	// 80% completed, 8% failed, 2% cancelled, a small entity each; vacuumed
	// and analysed, as autovacuum leaves a table at rest.
	seed := `INSERT INTO ` + pgx.Identifier{app, "jobs"}.Sanitize() + `
  (id, entity, context, status, flow, version, task_queue, created_at, updated_at, root_id, depth)
SELECT 'inst-' || lpad(n::text, 6, '0'), 'order', jsonb_build_object('n', n),
       CASE WHEN n % 50 < 5 THEN 'running' WHEN n % 50 < 45 THEN 'completed' WHEN n % 50 < 49 THEN 'failed' ELSE 'cancelled' END,
       (ARRAY['order', 'invoice', 'shipment', 'refund'])[1 + n % 4], 'v1', 'default',
       now() - (100000 - n) * interval '1 millisecond', now(), 'inst-' || lpad(n::text, 6, '0'), 0
FROM generate_series(1, 100000) AS n`
	if _, err := conn.Exec(ctx, seed); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE "+pgx.Identifier{app, "jobs"}.Sanitize()); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(New(eng, Options{}))
	defer srv.Close()
	get := func(b *testing.B, path string) []byte {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		return body
	}
	// A cursor 50 pages deep.
	var page struct{ Next *string }
	deep := ""
	for range 50 {
		json.Unmarshal(get(b, "/api/v1/instances?limit=50&cursor="+deep), &page)
		deep = *page.Next
	}
	for _, c := range []struct{ name, path string }{
		{"all", "/api/v1/instances?limit=50"},
		{"workflow", "/api/v1/instances?limit=50&workflow=invoice"},
		{"status", "/api/v1/instances?limit=50&status=failed"},
		{"workflow+status", "/api/v1/instances?limit=50&workflow=refund&status=running"},
		{"id-prefix", "/api/v1/instances?limit=50&id=inst-0999"},
		{"id-prefix-oldest", "/api/v1/instances?limit=50&id=inst-0000"},
		{"page-51", "/api/v1/instances?limit=50&cursor=" + deep},
		{"counts", "/api/v1/counts"},
		{"counts-workflow", "/api/v1/counts?workflow=order"},
	} {
		b.Run(c.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				t0 := time.Now()
				get(b, c.path)
				lat = append(lat, time.Since(t0))
			}
			slices.Sort(lat)
			ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / 1e6 }
			b.ReportMetric(ms(0.50), "p50-ms")
			b.ReportMetric(ms(0.95), "p95-ms")
		})
	}
}

// BenchmarkEventLatency measures how long a transition takes to reach an
// event stream of the server, from the signal's commit to the event of the
// step it completed: committed by another engine on the same database (a
// worker elsewhere: the poll, 400 ms, finds it) and by the server's own
// engine (a wake-up). Both stores.
//
//	go test -run XXX -bench EventLatency -benchtime 20x ./internal/server
func BenchmarkEventLatency(b *testing.B) {
	for _, run := range []struct{ st, by string }{{"sqlite", "other"}, {"sqlite", "same"}, {"postgres", "other"}, {"postgres", "same"}} {
		st := run.st
		b.Run(st+"/"+run.by+"-process", func(b *testing.B) {
			url, app := "sqlite:"+filepath.Join(b.TempDir(), "memflow.db"), "memflow"
			if st == "postgres" {
				url = pgtest.URL(b)
				app = pgtest.App(b, url)
			}
			// "other": the server's engine runs no worker; another engine
			// signals and its worker commits the step.
			f := newFixtureWorker(b, url, app, Options{Poll: 400 * time.Millisecond}, run.by == "same")
			other, err := memflow.Open(context.Background(), url, memflow.Config{App: app})
			if err != nil {
				b.Fatal(err)
			}
			defer other.Close()
			if run.by == "other" {
				wctx, stop := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { defer close(done); other.Run(wctx, memflow.WorkerConfig{Poll: 20 * time.Millisecond}) }()
				defer func() { stop(); <-done }()
			}
			signaller := other
			if run.by == "same" {
				signaller = f.eng
			}
			var lat []time.Duration
			i := 0
			for b.Loop() {
				i++
				id := "lat-" + jsonNumber(int64(i))
				want(b, f.post("/api/v1/workflows/order/start", `{"id":"`+id+`","args":{"item":"x"}}`), 201)
				eventually(b, id+" waits", func() bool {
					st, err := other.Status(context.Background(), id)
					return err == nil && len(st.Threads) > 0 && st.Threads[0].Doing == memflow.DoingSignal
				})
				stream := f.events(id, "")
				for r := range stream.rows { // the rows so far
					if r.Step == "step-0" {
						break
					}
				}
				t0 := time.Now()
				if err := signaller.Signal(context.Background(), id, "approve", map[string]any{"by": "b"}); err != nil {
					b.Fatal(err)
				}
				for r := range stream.rows {
					if r.Step == "approval" {
						lat = append(lat, time.Since(t0))
						break
					}
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2])/1e6, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)-1])/1e6, "max-ms")
		})
	}
}
