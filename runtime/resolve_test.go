package runtime

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/memflow/memflow/activities"
	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/internal/store"
)

// compileFlow compiles one flow file's text.
func compileFlow(t *testing.T, text string) *compiler.Program {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cat, ds := compiler.Load([]string{path}, compiler.Options{})
	if cat == nil {
		t.Fatal(ds)
	}
	return cat.Programs["w"]
}

// The resolver is the one place that decides which version a start uses:
// the catalogue's entry, confirmed in the start's transaction; a start
// that finds its remembered version stale resolves the name again.
func TestResolverFollowsTheCatalogue(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "r.db"), "r")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err := New(Config{Store: st, Activities: activities.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	v1 := compileFlow(t, "memflow: v1\nworkflows:\n  w:\n    entity: w\n    steps:\n      - set: { a: 1 }\n")
	v2 := compileFlow(t, "memflow: v1\nworkflows:\n  w:\n    entity: w\n    steps:\n      - set: { a: 2 }\n")
	if v1.Version == v2.Version {
		t.Fatal("two different flows share a version")
	}

	// Never served: the newest installed version.
	if err := e.Install(ctx, v1); err != nil {
		t.Fatal(err)
	}
	p, err := e.res.forStart(ctx, "w")
	if err != nil || p.Version != v1.Version {
		t.Fatalf("forStart = %v, %v; want v1", p, err)
	}
	confirm := func(p *program) error {
		return st.InTx(ctx, func(tx store.Tx) error { return e.res.confirm(ctx, tx, p) })
	}
	if err := confirm(p); err != nil {
		t.Fatalf("confirm v1 with no catalogue entry: %v", err)
	}

	// Another process serves v2: the remembered v1 is stale, and
	// retryStale resolves the name afresh.
	if err := e.Install(ctx, v2); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RecordLoad(ctx, store.LoadReport{At: time.Now(), OK: true}, []store.CatalogueEntry{{Name: "w", Version: v2.Version}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := confirm(p); !errors.Is(err, errStaleServing) {
		t.Fatalf("confirm v1 while v2 serves = %v, want stale", err)
	}
	var used []string
	err = e.res.retryStale(func() error {
		p, err := e.res.forStart(ctx, "w")
		if err != nil {
			return err
		}
		used = append(used, p.Version)
		return confirm(p)
	})
	if err != nil || len(used) != 2 || used[0] != v1.Version || used[1] != v2.Version {
		t.Fatalf("retryStale: err %v, versions used %v; want v1 then v2", err, used)
	}

	// Instances stay pinned: v1 is still what an instance of v1 runs.
	if p, err := e.res.pinned(ctx, "w", v1.Version); err != nil || p.Version != v1.Version {
		t.Fatalf("pinned v1 = %v, %v", p, err)
	}
	// A fresh engine (another process) reads the pinned version from the store.
	e2, err := New(Config{Store: st, Activities: activities.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := e2.res.pinned(ctx, "w", v1.Version); err != nil || p.Version != v1.Version {
		t.Fatalf("another engine's pinned v1 = %v, %v", p, err)
	}

	// Retired: starts are refused with the retirement.
	if _, err := st.RecordLoad(ctx, store.LoadReport{At: time.Now(), OK: true}, nil, []string{"w"}); err != nil {
		t.Fatal(err)
	}
	e.res.forgetAll()
	if _, err := e.res.forStart(ctx, "w"); !errors.Is(err, ErrRetired) {
		t.Fatalf("forStart of a retired workflow = %v, want ErrRetired", err)
	}
	// A stale error that never clears stops after staleTries.
	n := 0
	err = e.res.retryStale(func() error { n++; return &staleError{Name: "w"} })
	if !errors.Is(err, errStaleServing) || n != staleTries {
		t.Fatalf("retryStale ran %d times, err %v", n, err)
	}
}
