package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/internal/store"
)

// The serving catalogue. What a new start of a workflow name runs is decided
// by the store's catalogue entry for that name, shared by every engine on the
// database: the version the last successful load served, or a refusal when
// the name left the flows (retired). A name that never had an entry falls
// back to the engine's newest installed version, then the newest stored one.
// Instances are pinned to their version and never consult it (resolve.go).

// ErrRetired marks a start of a workflow that was removed from the flows.
// *RetiredError wraps it; errors.Is(err, ErrNotFound) holds too.
var ErrRetired = errors.New("workflow removed from the flows")

// RetiredError is a start of a workflow whose flow left the catalogue.
type RetiredError struct {
	Name    string
	Version string // the last version that served
	File    string
	At      time.Time // when it was retired
}

func (e *RetiredError) Error() string {
	return fmt.Sprintf("workflow %q was removed from the flows (last version %s, file %s, removed %s)",
		e.Name, e.Version, e.File, e.At.UTC().Format(time.RFC3339))
}

// Unwrap returns ErrRetired.
func (e *RetiredError) Unwrap() error { return ErrRetired }

// Is makes a retired workflow also a not-found one (nothing to start).
func (e *RetiredError) Is(target error) bool { return target == ErrNotFound }

// SwapParams describes a catalogue swap.
type SwapParams struct {
	// Scope are the files and folders the catalogue was loaded from. A
	// serving workflow whose file lies under them and that the catalogue
	// lacks is retired. Empty: nothing is retired.
	Scope []string
	// Source names who loaded, for the load report (e.g. host, pid, paths).
	Source string
}

// SwapCatalogue makes each program of cat the version new starts of its
// workflow use, in this engine and every engine sharing the store: each
// version is stored first (so any worker can resume instances on it) with
// its entity's declared indexes, then the catalogue entries, the
// retirements and an OK load report commit in one transaction. Instances
// keep running on the version they started with. It returns what changed
// (new and changed workflows, then retired ones; each sorted by name),
// measured against what this engine served before, else what the store did.
// On error nothing serves differently and the failure is reported.
func (e *Engine) SwapCatalogue(ctx context.Context, cat *compiler.Catalogue, p SwapParams) ([]store.CatalogueChange, error) {
	e.swapMu.Lock()
	defer e.swapMu.Unlock()
	defer e.res.forgetAll() // the next starts resolve their names afresh
	changes, err := e.swap(ctx, cat, p)
	if err != nil {
		if rerr := e.RecordLoadFailure(context.WithoutCancel(ctx), p.Source, []string{err.Error()}); rerr != nil {
			e.log.Error("record failed load", "error", rerr)
		}
		return nil, err
	}
	e.met.Reload(true)
	return changes, nil
}

func (e *Engine) swap(ctx context.Context, cat *compiler.Catalogue, p SwapParams) ([]store.CatalogueChange, error) {
	if cat == nil {
		return nil, errors.New("swap catalogue: no catalogue")
	}
	names := make([]string, 0, len(cat.Programs))
	for n, prog := range cat.Programs {
		if _, err := newProgram(prog); err != nil { // check all before installing any
			return nil, fmt.Errorf("swap catalogue: %w", err)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	prev, err := e.st.ListCatalogue(ctx)
	if err != nil {
		return nil, fmt.Errorf("swap catalogue: %w", err)
	}
	mine := e.res.installed()
	stored := map[string]store.CatalogueEntry{}
	for _, entry := range prev {
		stored[entry.Name] = entry
	}
	before := func(name string) string {
		if v, ok := mine[name]; ok {
			return v
		}
		if entry, ok := stored[name]; ok && !entry.Retired {
			return entry.Version
		}
		return ""
	}

	var serve []store.CatalogueEntry
	var changes []store.CatalogueChange
	for _, n := range names {
		prog := cat.Programs[n]
		if err := e.Install(ctx, prog); err != nil {
			return nil, fmt.Errorf("swap catalogue: %w", err)
		}
		serve = append(serve, store.CatalogueEntry{Name: n, Version: prog.Version, File: prog.File})
		if from := before(n); from != prog.Version {
			changes = append(changes, store.CatalogueChange{Name: n, From: from, To: prog.Version, File: prog.File})
		}
	}
	var retire []string
	for _, entry := range prev {
		if entry.Retired || cat.Programs[entry.Name] != nil || !underAny(entry.File, p.Scope) {
			continue
		}
		retire = append(retire, entry.Name)
		changes = append(changes, store.CatalogueChange{Name: entry.Name, From: entry.Version, File: entry.File})
	}
	report := store.LoadReport{At: e.now(), OK: true, Source: p.Source, Changes: changes}
	if _, err := e.st.RecordLoad(ctx, report, serve, retire); err != nil {
		return nil, fmt.Errorf("swap catalogue: %w", err)
	}
	e.res.retire(retire)
	return changes, nil
}

// RecordLoadFailure reports a load that failed with errs (file:line:col:
// message each); what serves is unchanged.
func (e *Engine) RecordLoadFailure(ctx context.Context, source string, errs []string) error {
	e.met.Reload(false)
	_, err := e.st.RecordLoad(ctx, store.LoadReport{At: e.now(), OK: false, Source: source, Errors: errs}, nil, nil)
	return err
}

// underAny reports whether file is one of paths or lies under one of them.
// Paths are compared cleaned and, when possible, absolute.
func underAny(file string, paths []string) bool {
	if file == "" {
		return false
	}
	f := absClean(file)
	for _, p := range paths {
		p = absClean(p)
		if f == p || strings.HasPrefix(f, p+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

func absClean(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

// Logger is the engine's logger.
func (e *Engine) Logger() *slog.Logger { return e.log }
