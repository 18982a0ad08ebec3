package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/memflow/memflow/internal/pgtest"
)

func postgresURL(t testing.TB) string { return pgtest.URL(t) }

// historyPerWorkflow bounds the history rows one workflow of each workload
// writes: start, each step, end (signal: plus the kept signal when it
// arrives before the wait).
var historyPerWorkflow = map[string][2]int64{
	"one-activity": {3, 3},
	"entity":       {13, 13},
	"signal":       {3, 4},
	"fanout":       {fanoutHooks*3 + 4, fanoutHooks*3 + 4}, // per hook: start, merge, end
}

func TestWorkloads(t *testing.T) {
	stores := map[string]func(t *testing.T) string{
		"sqlite":   func(*testing.T) string { return "" },
		"postgres": func(t *testing.T) string { return postgresURL(t) },
	}
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			db := stores[dialect](t)
			for _, w := range Workloads() {
				t.Run(w, func(t *testing.T) {
					n := 6
					if w == "fanout" {
						n = 2
					}
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
					defer cancel()
					progressed := false
					rep, err := Run(ctx, Config{DB: db, Workload: w, Workflows: n, Concurrency: 3,
						LimitDuration: 200 * time.Millisecond, Progress: func(Progress) { progressed = true }})
					if err != nil {
						t.Fatal(err)
					}
					if rep.Dialect != dialect || rep.Workflows != n || rep.WorkflowsPerSec <= 0 || !progressed {
						t.Errorf("report %+v: want %d workflows on %s with a rate and progress", rep, n, dialect)
					}
					bounds := historyPerWorkflow[w]
					if rep.Transitions < bounds[0]*int64(n) || rep.Transitions > bounds[1]*int64(n) {
						t.Errorf("%d history rows for %d workflows, want %d to %d each", rep.Transitions, n, bounds[0], bounds[1])
					}
					if rep.P50MS <= 0 || rep.P50MS > rep.P95MS || rep.P95MS > rep.P99MS {
						t.Errorf("latencies p50 %v p95 %v p99 %v are not ordered", rep.P50MS, rep.P95MS, rep.P99MS)
					}
					if rep.DBLimitCommitsPerSec == nil || *rep.DBLimitCommitsPerSec <= 0 || rep.Ratio == nil {
						t.Errorf("no database limit in %+v", rep)
					}
					if (dialect == "postgres") != (rep.CommitsPerWorkflow != nil) {
						t.Errorf("commits per workflow %v on %s", rep.CommitsPerWorkflow, dialect)
					}
					if rep.CommitsPerWorkflow != nil && *rep.CommitsPerWorkflow < 1 {
						t.Errorf("commits per workflow %v: every workflow commits at least its start", *rep.CommitsPerWorkflow)
					}
				})
			}
		})
	}
}

func TestFreshSchemaIsDropped(t *testing.T) {
	url := postgresURL(t)
	ctx := context.Background()
	rep, err := Run(ctx, Config{DB: url, Workflows: 2, Concurrency: 1, LimitDuration: -1})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rep.App, "bench_") {
		t.Fatalf("fresh app %q", rep.App)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, rep.App).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("schema %s left behind", rep.App)
	}
}

func TestBadConfig(t *testing.T) {
	_, err := Run(context.Background(), Config{Workload: "nope"})
	if err == nil || !strings.Contains(err.Error(), `unknown workload "nope"`) {
		t.Errorf("want an unknown workload error, got %v", err)
	}
	_, err = Run(context.Background(), Config{Workflows: -1})
	if err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("want a negative count error, got %v", err)
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if p50, p99 := percentile(ds, 50), percentile(ds, 99); p50 != 50 || p99 != 99 {
		t.Errorf("p50 %v p99 %v, want 50 and 99", p50, p99)
	}
	if percentile(nil, 50) != 0 {
		t.Error("percentile of nothing should be 0")
	}
}

// With Traces every span reaches the receiver: per one-activity workflow
// its root, its two transitions (start, activity result) and its attempt.
func TestTracesExported(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 5
	rep, err := Run(ctx, Config{Workflows: n, Concurrency: 2, LimitDuration: -1, Traces: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Spans == nil || *rep.Spans != 4*n {
		t.Errorf("spans %v, want %d", rep.Spans, 4*n)
	}
}
