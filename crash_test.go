package memflow_test

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
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
  ext:
    steps:
      - activity: crash.work
        args: { n: 7 }
        retry: { maxAttempts: 100, initialInterval: 10ms, maxInterval: 50ms }
      - increment: { ext: 1 }
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
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
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
	const n = 100
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
	// progress sums the counters of every instance: it grows with each
	// committed increment, whichever process commits it.
	progress := func() float64 {
		ins, err := eng.Find(ctx, "counter", nil, memflow.FindOptions{Limit: len(ids)})
		if err != nil {
			t.Fatal(err)
		}
		sum := 0.0
		for _, in := range ins {
			ent, _ := decode(t, in.Entity).(map[string]any)
			c, _ := ent["count"].(float64)
			h, _ := ent["hooks"].(float64)
			sum += c + h
		}
		return sum
	}
	// Slow machines (and -race builds of the worker processes) need far
	// longer than a fast laptop, so the waits here have their own deadline.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(8 * time.Minute)
		if d, ok := t.Deadline(); ok && d.Before(deadline) {
			deadline = d.Add(-5 * time.Second)
		}
		for delay := 5 * time.Millisecond; !cond(); delay = min(delay*2, 200*time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(delay)
		}
	}
	// Hooks sent from outside while workers die: each accepted one must run
	// (the instance waits for it); a refused one must not.
	accepted := map[string]int{}
	sendHooks := func() {
		for range 5 {
			id := ids[rand.IntN(len(ids))]
			if err := eng.Hook(ctx, id, "ext", nil); err == nil {
				accepted[id]++
			}
		}
	}
	kills := 0
	for kills < 15 && done() < len(ids) {
		sendHooks()
		// Each kill comes after the workers have committed something since
		// the last one, at a random moment after that, so the test kills
		// work in flight rather than processes that never got going.
		before := progress()
		waitFor("progress before a kill", func() bool { return progress() > before || done() == len(ids) })
		time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond) // a random kill moment, not synchronisation
		i := rand.IntN(2)
		mu.Lock()
		kill(i)
		spawn(i)
		mu.Unlock()
		kills++
	}
	total := 0
	for _, n := range accepted {
		total += n
	}
	t.Logf("killed %d worker processes; %d of %d instances had ended; %d hooks accepted from outside", kills, done(), len(ids), total)
	waitFor("every workflow to end", func() bool { return done() == len(ids) })

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
		if ext, _ := ent["ext"].(float64); int(ext) != accepted[id] {
			t.Errorf("%s: %d hooks accepted from outside, %v ran", id, accepted[id], ent["ext"])
		}
		assertStepsOnce(t, eng, id)
	}
}
