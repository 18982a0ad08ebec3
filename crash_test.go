package memflow_test

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/memflow/memflow"
)

const crashFlow = `
memflow: v1
workflows:
  crash:
    entity: counter
    steps:
      - set: { count: 0, hooks: 0 }
      - id: first
        activity: crash.work
        args: { n: 0 }
        retry: { maxAttempts: 100, initialInterval: 10ms, maxInterval: 50ms }
      - while: ${ entity.count < 20 }
        maxIterations: 25
        steps:
          - activity: crash.work
            args: { n: "${ entity.count }" }
            retry: { maxAttempts: 100, initialInterval: 10ms, maxInterval: 50ms }
          - increment: { count: 1 }
      - forEach: ${ [1, 2, 3, 4] }
        hook: fan
        args: { i: "${ item }" }
      - id: last
        activity: crash.work
        args: { n: 99 }
        retry: { maxAttempts: 100, initialInterval: 10ms, maxInterval: 50ms }
hooks:
  fan:
    steps:
      - activity: crash.work
        args: { n: "${ input.i }" }
        retry: { maxAttempts: 100, initialInterval: 10ms, maxInterval: 50ms }
      - increment: { hooks: 1 }
`

func registerCrashActs(eng *memflow.Engine) error {
	return eng.Register("crash.work", func(ctx context.Context, in map[string]any) (map[string]any, error) {
		select {
		case <-time.After(time.Duration(1+rand.IntN(3)) * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return in, nil
	})
}

// TestCrashWorkerProcess is the worker process of TestCrash; it does nothing
// in a normal test run.
func TestCrashWorkerProcess(t *testing.T) {
	url, app := os.Getenv("MEMFLOW_CRASH_DB"), os.Getenv("MEMFLOW_CRASH_APP")
	if url == "" {
		t.Skip("only runs as TestCrash's worker process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	eng, err := memflow.Open(ctx, url, memflow.Config{App: app})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if err := registerCrashActs(eng); err != nil {
		t.Fatal(err)
	}
	// The worker loads no flow: it resumes every instance from the
	// versions stored in the database.
	_ = eng.Run(ctx, memflow.WorkerConfig{Concurrency: 8, Lease: time.Second, Poll: 100 * time.Millisecond})
}

// TestCrash runs 100 workflows (25 on SQLite) on worker processes that are killed with
// SIGKILL at random moments and restarted; every workflow must complete
// with its counters exact and no step committed twice.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	// One store at a time: each run keeps both cores busy.
	eachStoreOpt(t, false, crash)
}

func crash(t *testing.T, d db) {
	ctx := context.Background()
	eng := d.open(t, nil)
	if err := registerCrashActs(eng); err != nil {
		t.Fatal(err)
	}
	loadFlow(t, eng, crashFlow)
	// SQLite serialises every write across the processes through one file:
	// a smaller fleet keeps the test quick there (and under -race).
	n := 100
	if strings.HasPrefix(d.URL, "sqlite:") {
		n = 25
	}
	var ids []string
	for range n {
		ids = append(ids, start(t, eng, "crash", nil))
	}

	var mu sync.Mutex
	procs := make([]*exec.Cmd, 2)
	spawn := func(i int) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashWorkerProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), "MEMFLOW_CRASH_DB="+d.URL, "MEMFLOW_CRASH_APP="+d.App)
		cmd.Dir = filepath.Dir(os.Args[0])
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[i] = cmd
	}
	kill := func(i int) {
		if p := procs[i]; p != nil {
			_ = p.Process.Kill()
			_ = p.Wait()
			procs[i] = nil
		}
	}
	mu.Lock()
	spawn(0)
	spawn(1)
	mu.Unlock()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		kill(0)
		kill(1)
	})

	done := func() int {
		n := 0
		for _, id := range ids {
			if in, err := eng.Get(ctx, id); err == nil && in.Status != memflow.StatusRunning {
				n++
			}
		}
		return n
	}
	kills := 0
	for kills < 15 && done() < len(ids) {
		time.Sleep(time.Duration(150+rand.IntN(500)) * time.Millisecond) // random kill moments, not synchronisation
		i := rand.IntN(2)
		mu.Lock()
		kill(i)
		spawn(i)
		mu.Unlock()
		kills++
	}
	t.Logf("killed %d worker processes; %d of %d instances had ended", kills, done(), len(ids))
	eventuallyWithin(t, 4*time.Minute, "every workflow to end", func() bool {
		n := done()
		if n < len(ids) && testing.Verbose() {
			t.Logf("%d of %d ended", n, len(ids))
		}
		return n == len(ids)
	})

	for _, id := range ids {
		in, err := eng.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if in.Status != memflow.StatusCompleted {
			t.Errorf("%s: %s %s", id, in.Status, in.Error)
			continue
		}
		ent := decode(t, in.Entity).(map[string]any)
		if ent["count"] != 20.0 || ent["hooks"] != 4.0 {
			t.Errorf("%s: count %v hooks %v, want 20 and 4", id, ent["count"], ent["hooks"])
		}
		assertStepsOnce(t, eng, id)
	}
}
