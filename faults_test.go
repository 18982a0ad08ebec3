package memflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/memflow/memflow"
	"github.com/memflow/memflow/internal/store"
)

// faultStore wraps a real store and injects infrastructure faults: lost
// connections around commits and inside transactions, and failing writes.
type faultStore struct {
	store.Store
	mu sync.Mutex
	// failTx makes the next failTx transactions fail with a lost
	// connection: after their commit landed when landed is set, else
	// before anything is written.
	failTx int
	landed bool
	// failGet makes Store.GetJob fail with a lost connection.
	failGet bool
	// failTxGet makes Tx.GetJob of an id fail that many times.
	failTxGet map[string]int
	// failHistory, when set, fails AppendHistory with what it returns.
	failHistory func(events []store.HistoryEvent) error
	// slow is what the test.slow activity does.
	slow func(ctx context.Context) (string, error)
}

func lostConnection() error {
	return &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
}

func (f *faultStore) InTx(ctx context.Context, fn func(tx store.Tx) error) error {
	f.mu.Lock()
	fail, landed := f.failTx > 0, f.landed
	if fail {
		f.failTx--
	}
	f.mu.Unlock()
	if fail && !landed {
		return lostConnection()
	}
	err := f.Store.InTx(ctx, func(tx store.Tx) error { return fn(&faultTx{Tx: tx, f: f}) })
	if fail && err == nil {
		return lostConnection()
	}
	return err
}

func (f *faultStore) GetJob(ctx context.Context, id string) (*store.Job, error) {
	f.mu.Lock()
	fail := f.failGet
	f.mu.Unlock()
	if fail {
		return nil, lostConnection()
	}
	return f.Store.GetJob(ctx, id)
}

type faultTx struct {
	store.Tx
	f *faultStore
}

func (t *faultTx) GetJob(ctx context.Context, id string, forUpdate bool) (*store.Job, error) {
	t.f.mu.Lock()
	fail := t.f.failTxGet[id] > 0
	if fail {
		t.f.failTxGet[id]--
	}
	t.f.mu.Unlock()
	if fail {
		return nil, lostConnection()
	}
	return t.Tx.GetJob(ctx, id, forUpdate)
}

func (t *faultTx) AppendHistory(ctx context.Context, events []store.HistoryEvent) error {
	t.f.mu.Lock()
	hook := t.f.failHistory
	t.f.mu.Unlock()
	if hook != nil {
		if err := hook(events); err != nil {
			return err
		}
	}
	return t.Tx.AppendHistory(ctx, events)
}

// WriteTransition writes a transition's history rows too: the same hook
// sees them.
func (t *faultTx) WriteTransition(ctx context.Context, w store.Transition) error {
	t.f.mu.Lock()
	hook := t.f.failHistory
	t.f.mu.Unlock()
	if hook != nil && len(w.History) > 0 {
		if err := hook(w.History); err != nil {
			return err
		}
	}
	return t.Tx.WriteTransition(ctx, w)
}

func (f *faultStore) set(fn func(f *faultStore)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// openFaulty opens an engine on d whose store injects the faults of the
// returned faultStore.
func openFaulty(t *testing.T, d db, cfg memflow.Config) (*memflow.Engine, *faultStore) {
	t.Helper()
	f := &faultStore{failTxGet: map[string]int{}}
	cfg.App = d.App
	eng, err := memflow.Open(context.Background(), d.URL, memflow.WithStoreWrapper(cfg, func(s store.Store) store.Store {
		f.Store = s
		return f
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	if err := eng.Register("test.slow", func(ctx context.Context) (string, error) {
		f.mu.Lock()
		fn := f.slow
		f.mu.Unlock()
		return fn(ctx)
	}); err != nil {
		t.Fatal(err)
	}
	return eng, f
}

const faultFlows = `
memflow: v1
workflows:
  gate:
    entity: box
    steps:
      - wait: go
      - set: { opened: true }
  sender:
    entity: box
    steps:
      - try:
          - signal: go
            to: ${ input.to }
        catch:
          - set: { caught: "${ error.type }" }
      - set: { sent: true }
  nap:
    entity: box
    steps:
      - sleep: 10ms
      - set: { woke: true }
  call:
    entity: box
    steps:
      - id: r
        activity: test.slow
      - set: { got: "${ steps.r }" }
  spin:
    entity: box
    steps:
      - while: ${ true }
        maxIterations: 1000000
        steps:
          - increment: { n: 1 }
`

func countBoxes(t *testing.T, eng *memflow.Engine, wf string) int {
	t.Helper()
	insts, err := eng.Find(context.Background(), "box", nil, memflow.FindOptions{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, in := range insts {
		if in.Workflow == wf {
			n++
		}
	}
	return n
}

// A start whose commit landed but whose connection died before the
// confirmation reports the instance, not an error that invites a second
// start; one whose commit did not land is started once; one that cannot
// learn its outcome names the id that may have started.
func TestStartWithUnknownCommitOutcome(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := context.Background()
		eng, f := openFaulty(t, d, memflow.Config{Limits: memflow.Limits{DBTimeout: 2 * time.Second}})
		loadFlow(t, eng, faultFlows)

		f.set(func(f *faultStore) { f.failTx, f.landed = 1, true })
		id, err := eng.Start(ctx, "gate", nil)
		if err != nil || id == "" {
			t.Fatalf("start whose commit landed: id %q, err %v", id, err)
		}
		if _, err := eng.Get(ctx, id); err != nil {
			t.Fatalf("the reported instance: %v", err)
		}
		f.set(func(f *faultStore) { f.failTx, f.landed = 1, false })
		if _, err := eng.Start(ctx, "gate", nil); err != nil {
			t.Fatalf("start whose commit did not land: %v", err)
		}
		if n := countBoxes(t, eng, "gate"); n != 2 {
			t.Fatalf("%d instances after two starts, want 2", n)
		}

		f.set(func(f *faultStore) { f.failTx, f.landed, f.failGet = 1, true, true })
		_, err = eng.Start(ctx, "gate", nil)
		f.set(func(f *faultStore) { f.failGet = false })
		var ue *memflow.StartUncertainError
		if !errors.As(err, &ue) || ue.ID == "" || !strings.Contains(err.Error(), ue.ID) || !strings.Contains(err.Error(), "may have started") {
			t.Fatalf("start with an unknown outcome: %v, want a StartUncertainError naming the id", err)
		}
		if _, err := eng.Get(ctx, ue.ID); err != nil {
			t.Fatalf("the instance that may have started: %v", err)
		}
	})
}

// A database error inside a step abandons the transition, which runs again;
// the flow's catch never sees it.
func TestDatabaseErrorInAStepIsNotAFlowError(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		eng, f := openFaulty(t, d, memflow.Config{})
		loadFlow(t, eng, faultFlows)
		work(t, eng, memflow.WorkerConfig{})
		target := start(t, eng, "gate", nil)
		f.set(func(f *faultStore) { f.failTxGet[target] = 2 })
		sender := start(t, eng, "sender", map[string]any{"to": target})
		res := result(t, eng, sender).(map[string]any)
		if res["caught"] != nil || res["sent"] != true {
			t.Fatalf("sender: %v; a database error reached the flow's catch", res)
		}
		jsonEq(t, result(t, eng, target), `{"opened": true}`)
	})
}

// When the database fails while an activity's result commits, the worker
// tries again on a fresh connection at once instead of leaving the task to
// its lease (ten minutes here).
func TestActivityResultCommitsThroughAnOutage(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		eng, f := openFaulty(t, d, memflow.Config{})
		loadFlow(t, eng, faultFlows)
		var calls int
		var mu sync.Mutex
		f.set(func(f *faultStore) {
			f.slow = func(ctx context.Context) (string, error) {
				mu.Lock()
				calls++
				mu.Unlock()
				f.set(func(f *faultStore) { f.failTx, f.landed = 3, false })
				return "done", nil
			}
		})
		work(t, eng, memflow.WorkerConfig{Lease: 10 * time.Minute})
		id := start(t, eng, "call", nil)
		raw, err := eng.Result(testCtxWithin(t, 30*time.Second), id)
		if err != nil {
			t.Fatalf("result: %v", err)
		}
		jsonEq(t, decode(t, raw), `{"got": "done"}`)
		mu.Lock()
		defer mu.Unlock()
		if calls != 1 {
			t.Errorf("the activity ran %d times, want once", calls)
		}
	})
}

// Every database call gets its own timeout: an activity that runs longer
// than that timeout still commits its result, once.
func TestActivityLongerThanTheDatabaseTimeoutCommits(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		const dbTimeout = 300 * time.Millisecond
		eng, f := openFaulty(t, d, memflow.Config{Limits: memflow.Limits{DBTimeout: dbTimeout}})
		loadFlow(t, eng, faultFlows)
		var calls int
		var mu sync.Mutex
		f.set(func(f *faultStore) {
			f.slow = func(ctx context.Context) (string, error) {
				mu.Lock()
				calls++
				mu.Unlock()
				select { // the activity's own work outlasts four database timeouts
				case <-time.After(4 * dbTimeout):
					return "done", nil
				case <-ctx.Done():
					return "", ctx.Err()
				}
			}
		})
		work(t, eng, memflow.WorkerConfig{Lease: 10 * time.Second}) // heartbeats at Lease/3, each with its own timeout
		id := start(t, eng, "call", nil)
		jsonEq(t, result(t, eng, id), `{"got": "done"}`)
		mu.Lock()
		defer mu.Unlock()
		if calls != 1 {
			t.Errorf("the activity ran %d times, want once", calls)
		}
	})
}

// A task whose handling keeps failing the worker does not retry forever:
// after Limits.MaxTaskAttempts claims its instance fails with InternalError.
func TestTaskThatKeepsFailingFailsItsInstance(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		ctx := context.Background()
		eng, f := openFaulty(t, d, memflow.Config{Limits: memflow.Limits{MaxTaskAttempts: 3}})
		loadFlow(t, eng, faultFlows)
		id := start(t, eng, "nap", nil)
		f.set(func(f *faultStore) {
			f.failHistory = func(events []store.HistoryEvent) error {
				for _, e := range events {
					if e.JobID == id && e.Kind == "step" {
						return errors.New("handling this task breaks the worker")
					}
				}
				return nil
			}
		})
		work(t, eng, memflow.WorkerConfig{})
		we := failure(t, eng, id)
		if !strings.Contains(we.Message, "claimed 3 times") {
			t.Fatalf("failure %q, want the task's claims named", we.Message)
		}
		hist, err := eng.History(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		last := hist[len(hist)-1]
		var detail struct{ Type string }
		_ = json.Unmarshal(last.Detail, &detail)
		if last.Kind != "failed" || detail.Type != "InternalError" {
			t.Fatalf("last event %s %s, want failed with type InternalError", last.Kind, last.Detail)
		}
	})
}

// Loops and history are bounded per instance whatever the flow declares.
func TestLoopAndHistoryLimits(t *testing.T) {
	eachStore(t, func(t *testing.T, d db) {
		for _, tc := range []struct {
			name   string
			limits memflow.Limits
			want   string
		}{
			{"loop", memflow.Limits{MaxLoopIterations: 25}, "Limits.MaxLoopIterations"},
			{"history", memflow.Limits{MaxHistory: 40}, "Limits.MaxHistory"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				eng, _ := openFaulty(t, d, memflow.Config{Limits: tc.limits})
				loadFlow(t, eng, faultFlows)
				work(t, eng, memflow.WorkerConfig{})
				id := start(t, eng, "spin", nil)
				we := failure(t, eng, id)
				if !strings.Contains(we.Message, tc.want) {
					t.Fatalf("failure %q, want %s named", we.Message, tc.want)
				}
				hist, err := eng.History(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				if tc.name == "history" && len(hist) > 2*tc.limits.MaxHistory {
					t.Errorf("%d history rows written under a limit of %d", len(hist), tc.limits.MaxHistory)
				}
				var detail struct{ Type string }
				_ = json.Unmarshal(hist[len(hist)-1].Detail, &detail)
				if detail.Type != "LimitExceeded" {
					t.Errorf("last event %s, want type LimitExceeded", hist[len(hist)-1].Detail)
				}
			})
		}
	})
}
