package memflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/memflow/memflow"
	"github.com/memflow/memflow/activities"
	"github.com/memflow/memflow/internal/pgtest"
)

// db is one test database: an SQLite file or a fresh Postgres schema.
type db struct {
	URL string
	App string
}

// eachStore runs fn as parallel subtests on SQLite and on Postgres (a fresh
// schema, dropped afterwards). Without Postgres the postgres subtest skips,
// unless CI=true, where it fails.
func eachStore(t *testing.T, fn func(t *testing.T, d db)) {
	eachStoreOpt(t, true, fn)
}

func eachStoreOpt(t *testing.T, parallel bool, fn func(t *testing.T, d db)) {
	t.Run("sqlite", func(t *testing.T) {
		if parallel {
			t.Parallel()
		}
		fn(t, sqliteDB(t))
	})
	t.Run("postgres", func(t *testing.T) {
		if parallel {
			t.Parallel()
		}
		fn(t, postgresDB(t))
	})
}

func sqliteDB(t testing.TB) db {
	return db{URL: "sqlite:" + filepath.Join(t.TempDir(), "memflow.db"), App: "memflow"}
}

func postgresDB(t testing.TB) db {
	t.Helper()
	url := pgtest.URL(t)
	return db{URL: url, App: pgtest.App(t, url)}
}

// open opens an engine on d with the test activities registered; it is
// closed when the test ends.
func (d db) open(t *testing.T, acts *testActs) *memflow.Engine {
	t.Helper()
	eng, err := memflow.Open(context.Background(), d.URL, memflow.Config{App: d.App})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	if acts != nil {
		acts.register(t, eng)
	}
	return eng
}

// work runs a worker until the returned stop is called (or the test ends).
func work(t *testing.T, eng *memflow.Engine, cfg memflow.WorkerConfig) (stop func()) {
	t.Helper()
	if cfg.Poll == 0 {
		cfg.Poll = 50 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := eng.Run(ctx, cfg); err != nil {
			t.Errorf("worker: %v", err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// loadFlow writes src as a flow file and loads it.
func loadFlow(t *testing.T, eng *memflow.Engine, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flow.yaml")
	writeFile(t, path, src)
	if err := eng.LoadFlows(context.Background(), path); err != nil {
		t.Fatalf("load flow: %v", err)
	}
	return path
}

func writeFile(t *testing.T, path, src string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.TrimLeft(src, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// testCtx is a context bounded by the test's deadline (or 60s).
func testCtx(t *testing.T) context.Context {
	return testCtxWithin(t, 60*time.Second)
}

// testCtxWithin is a context bounded by the test's deadline (or d).
func testCtxWithin(t *testing.T, d time.Duration) context.Context {
	deadline, ok := t.Deadline()
	if !ok || time.Until(deadline) > d {
		deadline = time.Now().Add(d)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline.Add(-time.Second))
	t.Cleanup(cancel)
	return ctx
}

// result waits for id's result and decodes it.
func result(t *testing.T, eng *memflow.Engine, id string) any {
	t.Helper()
	raw, err := eng.Result(testCtx(t), id)
	if err != nil {
		t.Fatalf("result of %s: %v", id, err)
	}
	return decode(t, raw)
}

// failure waits for id to fail and returns its error.
func failure(t *testing.T, eng *memflow.Engine, id string) *memflow.WorkflowError {
	t.Helper()
	raw, err := eng.Result(testCtx(t), id)
	we, ok := err.(*memflow.WorkflowError)
	if !ok {
		t.Fatalf("%s: want a failed workflow, got result %s, err %v", id, raw, err)
	}
	return we
}

func decode(t *testing.T, raw []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

// eventually polls cond until it holds or the test's deadline nears (at
// most 60s).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventuallyWithin(t, 60*time.Second, what, cond)
}

func eventuallyWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx := testCtxWithin(t, d)
	delay := 5 * time.Millisecond
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(delay):
		}
		delay = min(delay*2, 100*time.Millisecond)
	}
}

func start(t *testing.T, eng *memflow.Engine, wf string, args any, opts ...memflow.StartOption) string {
	t.Helper()
	id, err := eng.Start(context.Background(), wf, args, opts...)
	if err != nil {
		t.Fatalf("start %s: %v", wf, err)
	}
	return id
}

func jsonEq(t *testing.T, got any, want string) {
	t.Helper()
	g, _ := json.Marshal(got)
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %s: %v", want, err)
	}
	wb, _ := json.Marshal(w)
	if string(g) != string(wb) {
		t.Errorf("got  %s\nwant %s", g, wb)
	}
}

// testActs are the activities test flows call; they count their calls.
type testActs struct {
	mu    sync.Mutex
	calls map[string]int
	// failures makes test.flaky fail this many times per key first.
	failures int
	// gate, when set, blocks test.block until closed.
	gate chan struct{}
}

func newActs() *testActs { return &testActs{calls: map[string]int{}} }

func (a *testActs) count(key string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[key]
}

func (a *testActs) inc(key string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls[key]++
	return a.calls[key]
}

func (a *testActs) register(t *testing.T, eng *memflow.Engine) {
	t.Helper()
	type keyArg struct {
		Key string `json:"key"`
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(eng.Register("test.echo", func(ctx context.Context, in any) (any, error) {
		a.inc("echo")
		return in, nil
	}))
	must(eng.Register("test.count", func(ctx context.Context, in keyArg) (int, error) {
		return a.inc(in.Key), nil
	}))
	must(eng.Register("test.flaky", func(ctx context.Context, in keyArg) (map[string]any, error) {
		n := a.inc(in.Key)
		info, _ := activities.InfoFrom(ctx)
		if n <= a.failures {
			return nil, fmt.Errorf("flaky failure %d", n)
		}
		return map[string]any{"calls": n, "attempt": info.Attempt, "key": info.IdempotencyKey}, nil
	}))
	must(eng.Register("test.typed", func(ctx context.Context) (any, error) {
		a.inc("typed")
		return nil, &activities.Error{Type: "ValidationError", Message: "bad order"}
	}))
	must(eng.Register("test.fatal", func(ctx context.Context) (any, error) {
		a.inc("fatal")
		return nil, activities.NonRetryable(errors.New("card declined"))
	}))
	block := func(ctx context.Context) (string, error) {
		a.inc("block")
		a.mu.Lock()
		gate := a.gate
		a.mu.Unlock()
		select {
		case <-ctx.Done():
			a.inc("block-cancelled")
			return "", ctx.Err()
		case <-gate:
			return "unblocked", nil
		}
	}
	must(eng.Register("test.block", block))
	// test.attempt is test.block reporting its attempt number.
	must(eng.Register("test.attempt", func(ctx context.Context) (map[string]any, error) {
		res, err := block(ctx)
		info, _ := activities.InfoFrom(ctx)
		return map[string]any{"attempt": info.Attempt, "result": res}, err
	}))
}
