package runtime

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/memflow/memflow/activities"
	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/internal/pgtest"
	"github.com/memflow/memflow/internal/store"
)

const peerFlows = `memflow: v1
workflows:
  kid:
    entity: k
    steps:
      - wait: go
      - return: done
  sig:
    entity: s
    steps:
      - signal: go
        to: ${ input.to }
  join:
    entity: j
    steps:
      - id: c
        workflow: kid
        workflowId: ${ input.id }
      - return: ${ steps.c }
  three:
    entity: t
    steps:
      - while: ${ (entity.n ?? 0) < 3 }
        maxIterations: 3
        steps:
          - { id: c, workflow: kid, await: false }
          - increment: { n: 1 }
`

// eachRuntimeStore runs fn on a fresh SQLite file and a fresh Postgres
// schema.
func eachRuntimeStore(t *testing.T, fn func(t *testing.T, st store.Store)) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			url := "sqlite:" + filepath.Join(t.TempDir(), "p.db")
			app := "p"
			if name == "postgres" {
				url = pgtest.URL(t)
				app = pgtest.App(t, url)
			}
			st, err := store.Open(ctx, url, app)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			fn(t, st)
		})
	}
}

// An effect on another instance commits only on true facts: when what the
// committer knew is no longer so at commit (a signal kept for an id an
// instance took, a child id taken, a watched child ended, a tree filled up
// or closed), nothing is written, the fact is corrected, and the run that
// follows does the right thing.
func TestCommitChecksFactsAboutOtherInstances(t *testing.T) {
	eachRuntimeStore(t, func(t *testing.T, st store.Store) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		e, err := New(Config{Store: st, Activities: activities.NewRegistry(), Limits: Limits{MaxDescendants: 2}})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "f.yaml")
		if err := os.WriteFile(path, []byte(peerFlows), 0o644); err != nil {
			t.Fatal(err)
		}
		cat, ds := compiler.Load([]string{path}, compiler.Options{})
		if cat == nil {
			t.Fatal(ds)
		}
		progs := map[string]*program{}
		for name, cp := range cat.Programs {
			if err := e.Install(ctx, cp); err != nil {
				t.Fatal(err)
			}
			if progs[name], err = newProgram(cp); err != nil {
				t.Fatal(err)
			}
		}
		startOK := func(wf, id string, args any) {
			t.Helper()
			if _, _, err := e.Start(ctx, StartParams{Workflow: wf, ID: id, Args: args}); err != nil {
				t.Fatal(err)
			}
		}
		job := func(id string) *store.Job {
			t.Helper()
			j, err := st.GetJob(ctx, id)
			if err != nil {
				t.Fatalf("instance %s: %v", id, err)
			}
			return j
		}
		// commitWith runs a start of wf as id whose committer believes pe.
		commitWith := func(pe *peers, wf, id string, args any) error {
			t.Helper()
			prog := progs[wf]
			children, err := e.res.children(ctx, prog)
			if err != nil {
				t.Fatal(err)
			}
			return st.InTx(ctx, func(tx store.Tx) error {
				v, raw, err := e.checkInput(prog, "", args)
				if err != nil {
					return err
				}
				x, err := e.newRun(ctx, tx, prog, id, v, raw, children, jobOpts{})
				if err != nil {
					return err
				}
				x.peers = pe
				x.runAll()
				x.drain()
				if len(x.needs) > 0 {
					t.Fatalf("steps need %v though the facts were given", x.needs)
				}
				return x.save()
			})
		}
		notWritten := func(id string) {
			t.Helper()
			if _, err := st.GetJob(ctx, id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("instance %s written by a commit that should have run again (%v)", id, err)
			}
		}
		startOK("kid", "k1", nil) // waits for go

		// A signal kept for an id an instance holds.
		pe := newPeers()
		pe.jobs["k1"] = nil
		if err := commitWith(pe, "sig", "s1", map[string]any{"to": "k1"}); !errors.Is(err, errRerun) {
			t.Fatalf("signal kept for a taken id: %v, want errRerun", err)
		}
		if _, known := pe.jobs["k1"]; known {
			t.Error("the wrong fact about k1 was kept")
		}
		notWritten("s1")
		if ps, err := st.PendingSignals(ctx, "k1"); err != nil || len(ps) != 0 {
			t.Errorf("signals kept for k1: %v %v", ps, err)
		}

		// A child id an instance holds: read at commit, then joined.
		pe = newPeers()
		pe.jobs["k1"] = nil
		if err := commitWith(pe, "join", "j1", map[string]any{"id": "k1"}); !errors.Is(err, errRerun) {
			t.Fatalf("child id taken: %v, want errRerun", err)
		}
		if j := pe.jobs["k1"]; j == nil || j.Status != store.StatusRunning {
			t.Errorf("fact about k1 after the commit: %+v", j)
		}
		notWritten("j1")

		// A watched child that ended meanwhile: its result is the step's.
		startOK("kid", "k2", nil)
		if err := e.Signal(ctx, "k2", "go", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := e.RunDue(ctx, 0); err != nil {
			t.Fatal(err)
		}
		if j := job("k2"); j.Status != store.StatusCompleted {
			t.Fatalf("k2 is %s", j.Status)
		}
		pe = newPeers()
		pe.jobs["k2"] = &store.Job{ID: "k2", Flow: "kid", Status: store.StatusRunning}
		if err := commitWith(pe, "join", "j2", map[string]any{"id": "k2"}); !errors.Is(err, errRerun) {
			t.Fatalf("watched child ended: %v, want errRerun", err)
		}
		if j := pe.jobs["k2"]; j == nil || j.Status != store.StatusCompleted {
			t.Errorf("fact about k2 after the commit: %+v", j)
		}
		notWritten("j2")
		startOK("join", "j2", map[string]any{"id": "k2"})
		if j := job("j2"); j.Status != store.StatusCompleted || string(j.Result) != `"done"` {
			t.Errorf("j2 %s with %s, want completed with k2's result", j.Status, j.Result)
		}

		// A tree that fills up: the first two children start, the third
		// fails the step.
		pe = newPeers()
		if err := commitWith(pe, "three", "t1", nil); !errors.Is(err, errRerun) {
			t.Fatalf("tree full: %v, want errRerun", err)
		}
		if f, ok := pe.trees["t1"]; !ok || f.count != 0 || f.closed {
			t.Errorf("fact about t1's tree: %+v %v", f, ok)
		}
		notWritten("t1.c.1")
		startOK("three", "t1", nil)
		if j := job("t1"); j.Status != store.StatusFailed || !strings.Contains(j.Error, "limit 2") {
			t.Errorf("t1 %s (%s), want failed at the limit", j.Status, j.Error)
		}
		job("t1.c.1")
		job("t1.c.2")
		notWritten("t1.c.3")

		// A default child id taken: the next one.
		startOK("kid", "t2.c.1", nil)
		e.lim.MaxDescendants = 10
		startOK("three", "t2", nil)
		if j := job("t2.c.4"); j.Parent != "t2" {
			t.Errorf("t2.c.4 has parent %q", j.Parent)
		}
		if j := job("t2.c.1"); j.Parent != "" {
			t.Errorf("the instance holding t2.c.1 was taken over: parent %q", j.Parent)
		}

		// A closed tree cancels the instance that would start in it.
		if err := st.CloseTree(ctx, "t3"); err != nil {
			t.Fatal(err)
		}
		startOK("three", "t3", nil)
		if j := job("t3"); j.Status != store.StatusCancelled {
			t.Errorf("t3 %s, want cancelled", j.Status)
		}
		notWritten("t3.c.1")
	})
}
