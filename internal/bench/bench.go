package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memflow/memflow"
	"github.com/memflow/memflow/internal/otlprecv"
	"github.com/memflow/memflow/internal/store"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Config describes one bench run. Zero fields take the defaults.
type Config struct {
	// DB is the database URL; "" is a temporary SQLite file removed after.
	DB string
	// App is the app id; "" is a fresh app whose schema (Postgres) is
	// dropped after the run.
	App string
	// Workload is one of Workloads(); default "one-activity".
	Workload string
	// Workflows is how many workflows to run; default 1000.
	Workflows int
	// Concurrency is how many workflows are in flight; default 16. It is
	// also the connection count of the database limit measurement and, on
	// Postgres, of the engine's pool unless the URL sets pool_max_conns;
	// both at most maxConns.
	Concurrency int
	// Workers is the in-process worker's concurrency; default Concurrency.
	Workers int
	// LimitDuration is how long the database limit is measured; default 3s;
	// negative skips it.
	LimitDuration time.Duration
	// Metrics turns the engine's Prometheus metrics on (a registry of the
	// run's own), to measure what they cost.
	Metrics bool
	// Traces turns tracing on: every span goes through a batch span
	// processor and the OTLP/HTTP exporter to a receiver in this process
	// (internal/otlprecv), to measure what tracing costs.
	Traces bool
	// Progress, if set, is called a few times per second while workflows run.
	Progress func(Progress)
}

// Progress is a snapshot of a running bench.
type Progress struct {
	Phase   string // "workflows" or "db-limit"
	Done    int
	Total   int
	Elapsed time.Duration
}

// Report is the outcome of a run. Rates are per second of wall time from the
// first start to the last result.
type Report struct {
	Workload    string  `json:"workload"`
	Dialect     string  `json:"dialect"`
	App         string  `json:"app"`
	Workflows   int     `json:"workflows"`
	Concurrency int     `json:"concurrency"`
	Workers     int     `json:"workers"`
	Seconds     float64 `json:"seconds"`

	WorkflowsPerSec   float64 `json:"workflows_per_sec"`
	Transitions       int64   `json:"transitions"`
	TransitionsPerSec float64 `json:"transitions_per_sec"`
	P50MS             float64 `json:"p50_ms"`
	P95MS             float64 `json:"p95_ms"`
	P99MS             float64 `json:"p99_ms"`
	// CommitsPerWorkflow is nil when the database does not count commits.
	CommitsPerWorkflow *float64 `json:"commits_per_workflow"`
	// RoundTripsPerWorkflow counts the round trips of the run's transactions
	// (claims and transitions) per workflow; nil on SQLite.
	RoundTripsPerWorkflow *float64 `json:"round_trips_per_workflow"`
	// DBLimitCommitsPerSec is the commit rate of single-row JSON inserts at
	// Concurrency connections (nil when skipped).
	DBLimitCommitsPerSec *float64 `json:"db_limit_commits_per_sec"`
	// Ratio is WorkflowsPerSec / DBLimitCommitsPerSec (nil without a limit).
	Ratio *float64 `json:"ratio"`
	// Spans is how many spans the receiver got (Traces only).
	Spans *int `json:"spans,omitempty"`
}

func (c *Config) defaults() error {
	if c.Workload == "" {
		c.Workload = "one-activity"
	}
	if _, ok := workloads[c.Workload]; !ok {
		return fmt.Errorf("bench: unknown workload %q (want one of %s)", c.Workload, strings.Join(Workloads(), ", "))
	}
	if c.Workflows < 0 || c.Concurrency < 0 || c.Workers < 0 {
		return errors.New("bench: workflows, concurrency and workers must not be negative")
	}
	if c.Workflows == 0 {
		c.Workflows = 1000
	}
	if c.Concurrency == 0 {
		c.Concurrency = 16
	}
	if c.Workers == 0 {
		c.Workers = c.Concurrency
	}
	if c.LimitDuration == 0 {
		c.LimitDuration = 3 * time.Second
	}
	return nil
}

// Run runs the configured workload and measures it. Every workflow must end
// with the result its workload expects, or Run fails.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	target, cleanup, err := prepare(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	defer cleanup()

	rep := &Report{Workload: cfg.Workload, Dialect: target.dialect, App: target.app, Workflows: cfg.Workflows,
		Concurrency: cfg.Concurrency, Workers: cfg.Workers}
	var tp trace.TracerProvider
	var spans func() (int, error)
	if cfg.Traces {
		if tp, spans, err = exportTraces(ctx); err != nil {
			return nil, err
		}
	}
	trips := store.RoundTrips()
	ids, lat, elapsed, commits, err := runWorkflows(ctx, cfg, target, tp)
	if spans != nil {
		n, serr := spans()
		if err == nil && serr != nil {
			err = serr
		}
		rep.Spans = &n
	}
	if err != nil {
		return nil, err
	}
	if target.dialect == "postgres" {
		v := float64(store.RoundTrips()-trips) / float64(cfg.Workflows)
		rep.RoundTripsPerWorkflow = &v
	}
	rep.Seconds = elapsed.Seconds()
	rep.WorkflowsPerSec = float64(cfg.Workflows) / elapsed.Seconds()
	rep.P50MS, rep.P95MS, rep.P99MS = percentile(lat, 50), percentile(lat, 95), percentile(lat, 99)
	if commits >= 0 {
		v := float64(commits) / float64(cfg.Workflows)
		rep.CommitsPerWorkflow = &v
	}
	if rep.Transitions, err = countTransitions(ctx, target, ids); err != nil {
		return nil, err
	}
	rep.TransitionsPerSec = float64(rep.Transitions) / elapsed.Seconds()
	if cfg.LimitDuration > 0 {
		limit, err := dbLimit(ctx, target, cfg.Concurrency, cfg.LimitDuration, cfg.Progress)
		if err != nil {
			return nil, err
		}
		ratio := rep.WorkflowsPerSec / limit
		rep.DBLimitCommitsPerSec, rep.Ratio = &limit, &ratio
	}
	return rep, nil
}

// target is the database a run works on.
type target struct {
	dialect string // "postgres" or "sqlite"
	url     string // the engine's URL (pool size set on Postgres)
	rawURL  string // as given
	app     string
	path    string // SQLite file
}

// prepare resolves the database and app, returning a cleanup that removes
// what the run created.
func prepare(ctx context.Context, cfg *Config) (*target, func(), error) {
	t := &target{url: cfg.DB, rawURL: cfg.DB, app: cfg.App}
	var cleanups []func()
	cleanup := func() {
		for _, f := range slices.Backward(cleanups) {
			f()
		}
	}
	fresh := t.app == ""
	if fresh {
		t.app = "bench_" + randomHex(4)
	}
	switch {
	case cfg.DB == "":
		dir, err := os.MkdirTemp("", "memflow-bench-")
		if err != nil {
			return nil, nil, fmt.Errorf("bench: temp database: %w", err)
		}
		cleanups = append(cleanups, func() { os.RemoveAll(dir) })
		t.path = filepath.Join(dir, "bench.db")
		t.url, t.rawURL, t.dialect = "sqlite:"+t.path, "sqlite:"+t.path, "sqlite"
	case strings.HasPrefix(cfg.DB, "postgres://"), strings.HasPrefix(cfg.DB, "postgresql://"):
		t.dialect = "postgres"
		u, err := url.Parse(cfg.DB)
		if err != nil {
			return nil, nil, fmt.Errorf("bench: database url: %w", err)
		}
		q := u.Query()
		if q.Get("pool_max_conns") == "" {
			q.Set("pool_max_conns", fmt.Sprint(min(max(cfg.Concurrency, cfg.Workers), maxConns)+2))
			u.RawQuery = q.Encode()
			t.url = u.String()
		}
		if fresh {
			cleanups = append(cleanups, func() { dropSchema(context.WithoutCancel(ctx), t) })
		}
	default:
		t.dialect = "sqlite"
		t.path = strings.TrimPrefix(strings.TrimPrefix(cfg.DB, "sqlite://"), "sqlite:")
	}
	return t, cleanup, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// exportTraces starts a receiver and a tracer provider exporting to it, as
// the CLI does when OTEL_EXPORTER_OTLP_ENDPOINT is set. spans flushes what
// the provider holds, stops the receiver and returns how many spans it got.
func exportTraces(ctx context.Context) (tp trace.TracerProvider, spans func() (int, error), err error) {
	r, err := otlprecv.Start(false)
	if err != nil {
		return nil, nil, fmt.Errorf("bench: %w", err)
	}
	sdk, err := r.Provider(ctx, attribute.String("service.name", "memflow-bench"))
	if err != nil {
		r.Close()
		return nil, nil, fmt.Errorf("bench: tracer provider: %w", err)
	}
	return sdk, func() (int, error) {
		err := sdk.Shutdown(context.WithoutCancel(ctx))
		r.Close()
		if err == nil {
			err = r.Err()
		}
		if err != nil {
			return r.Count(), fmt.Errorf("bench: export spans: %w", err)
		}
		return r.Count(), nil
	}, nil
}

// session is an open engine with its worker running.
type session struct {
	eng        *memflow.Engine
	stopWorker context.CancelFunc
	workerDone chan error
	stopped    bool
	closed     bool
}

// openSession opens an engine on t with the bench flows and activities and
// starts a worker of the given concurrency.
func openSession(ctx context.Context, t *target, workers int, withMetrics bool, tp trace.TracerProvider) (*session, error) {
	mc := memflow.Config{App: t.app, TracerProvider: tp}
	if withMetrics {
		mc.Metrics = prometheus.NewRegistry()
	}
	eng, err := memflow.Open(ctx, t.url, mc)
	if err != nil {
		return nil, fmt.Errorf("bench: open %s: %w", t.dialect, err)
	}
	if err := register(eng); err == nil {
		err = loadFlows(ctx, eng)
	}
	if err != nil {
		eng.Close()
		return nil, err
	}
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s := &session{eng: eng, stopWorker: stop, workerDone: make(chan error, 1)}
	go func() {
		s.workerDone <- eng.Run(wctx, memflow.WorkerConfig{Concurrency: workers, Grace: time.Second})
	}()
	return s, nil
}

// stop stops the worker and returns its error.
func (s *session) stop() error {
	if s.stopped {
		return nil
	}
	s.stopped = true
	s.stopWorker()
	return <-s.workerDone
}

// close stops the worker and closes the engine.
func (s *session) close() {
	_ = s.stop()
	if !s.closed {
		s.closed = true
		s.eng.Close()
	}
}

// runWorkflows runs the workload's workflows on a new session and returns
// their ids, start-to-result latencies, the wall time and the commits the
// run made (-1 when unknown). The engine's spans go to tp (nil: the
// global provider, a no-op).
func runWorkflows(ctx context.Context, cfg Config, t *target, tp trace.TracerProvider) ([]string, []time.Duration, time.Duration, int64, error) {
	s, err := openSession(ctx, t, cfg.Workers, cfg.Metrics, tp)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	defer s.close()
	counter, err := newCommitCounter(ctx, t)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	defer counter.close()
	if err := counter.begin(ctx); err != nil {
		return nil, nil, 0, 0, err
	}

	w := workloads[cfg.Workload]
	ids := make([]string, cfg.Workflows)
	lat := make([]time.Duration, cfg.Workflows)
	var next, done atomic.Int64
	var firstErr error
	var errOnce sync.Once
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancelRun() })
	}
	begin := time.Now()
	stopProgress := progressLoop(cfg.Progress, "workflows", cfg.Workflows, begin, done.Load)
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.Workflows || runCtx.Err() != nil {
					return
				}
				start := time.Now()
				id, err := w.run(runCtx, s.eng, i)
				if err != nil {
					fail(fmt.Errorf("bench %s: workflow %d: %w", cfg.Workload, i, err))
					return
				}
				ids[i], lat[i] = id, time.Since(start)
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(begin)
	stopProgress()
	if firstErr != nil {
		return nil, nil, 0, 0, firstErr
	}
	if err := s.stop(); err != nil {
		return nil, nil, 0, 0, fmt.Errorf("bench: worker: %w", err)
	}
	s.close() // Postgres backends report their counts as they exit
	commits, err := counter.end(ctx)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	return ids, lat, elapsed, commits, nil
}

// progressLoop calls report every 250ms until the returned stop is called,
// and once more at stop.
func progressLoop(report func(Progress), phase string, total int, begin time.Time, done func() int64) (stop func()) {
	if report == nil {
		return func() {}
	}
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				report(Progress{Phase: phase, Done: int(done()), Total: total, Elapsed: time.Since(begin)})
				return
			case <-tick.C:
				report(Progress{Phase: phase, Done: int(done()), Total: total, Elapsed: time.Since(begin)})
			}
		}
	}()
	return func() { close(quit); <-finished }
}

// percentile is the p-th percentile of ds in milliseconds (nearest rank).
func percentile(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(p/100*float64(len(s))+0.5) - 1
	rank = min(max(rank, 0), len(s)-1)
	return float64(s[rank].Microseconds()) / 1000
}

// countTransitions sums the history rows (one per committed step, plus start
// and end) of the workflows the run made, reading the database directly.
func countTransitions(ctx context.Context, t *target, ids []string) (int64, error) {
	db, err := openRaw(ctx, t, 1)
	if err != nil {
		return 0, err
	}
	defer db.close()
	return db.countHistory(ctx, ids)
}
