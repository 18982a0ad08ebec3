package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/internal/store"
)

// resolver decides which compiled program runs, and is the one place that
// caches programs:
//
//   - pinned: the exact version an instance started on (instances never
//     move to another version);
//   - forStart: the version a new start of a workflow name uses (its own
//     start, or a child step's). The store's catalogue entry decides, shared
//     by every engine on the database; a name that never had an entry takes
//     the newest version installed here, then the newest stored one. The
//     program the last start of a name used is reused without a read, and
//     the start's transaction confirms it (confirm); a start that finds it
//     stale is run again (retryStale) after the name is resolved afresh.
type resolver struct {
	st store.Store

	mu        sync.RWMutex
	newest    map[string]*program // workflow name -> newest version installed here
	lastStart map[string]*program // workflow name -> what its last start used
	byVer     map[string]*program // name@version -> program
}

func newResolver(st store.Store) *resolver {
	return &resolver{st: st, newest: map[string]*program{}, lastStart: map[string]*program{}, byVer: map[string]*program{}}
}

// staleError aborts a start (or the commit of a transition starting a
// child) whose program is no longer the one the catalogue serves for Name.
type staleError struct{ Name string }

func (e *staleError) Error() string {
	return fmt.Sprintf("the serving version of %q changed during the start", e.Name)
}

// Is makes every staleError match errStaleServing.
func (e *staleError) Is(target error) bool { return target == errStaleServing }

// errStaleServing matches every *staleError.
var errStaleServing = errors.New("the serving version changed during the start")

// staleTries is how often retryStale runs an operation that found its
// program stale.
const staleTries = 3

// retryStale runs op again, after forgetting what the last start of the
// stale workflow used, while it fails because a program it started on is no
// longer served (another load swapped the catalogue meanwhile).
func (r *resolver) retryStale(op func() error) error {
	var err error
	for try := 1; try <= staleTries; try++ {
		err = op()
		var se *staleError
		if !errors.As(err, &se) {
			return err
		}
		r.forget(se.Name)
	}
	return err
}

// install makes pr the newest version of its workflow here.
func (r *resolver) install(pr *program) {
	r.mu.Lock()
	r.newest[pr.Name] = pr
	r.byVer[pr.Name+"@"+pr.Version] = pr
	r.mu.Unlock()
}

// retire drops names from the versions installed here.
func (r *resolver) retire(names []string) {
	r.mu.Lock()
	for _, n := range names {
		delete(r.newest, n)
	}
	r.mu.Unlock()
}

// installed maps each workflow installed here to its newest version.
func (r *resolver) installed() map[string]string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[string]string, len(r.newest))
	for n, pr := range r.newest {
		out[n] = pr.Version
	}
	return out
}

// loaded lists the newest program of each workflow installed here.
func (r *resolver) loaded() []*compiler.Program {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*compiler.Program, 0, len(r.newest))
	for _, p := range r.newest {
		out = append(out, p.Program)
	}
	return out
}

// pinned returns the exact version an instance runs, from memory or the
// store.
func (r *resolver) pinned(ctx context.Context, name, version string) (*program, error) {
	r.mu.RLock()
	p := r.byVer[name+"@"+version]
	r.mu.RUnlock()
	if p != nil {
		return p, nil
	}
	fv, err := r.st.GetFlowVersion(ctx, name, version)
	if err != nil {
		return nil, fmt.Errorf("load flow %s version %s: %w", name, version, err)
	}
	return r.decode(fv)
}

// decode compiles a stored version's program once and keeps it.
func (r *resolver) decode(fv *store.FlowVersion) (*program, error) {
	cp, err := compiler.DecodeProgram(fv.Program)
	if err != nil {
		return nil, fmt.Errorf("decode flow %s version %s: %w", fv.Name, fv.Version, err)
	}
	p, err := newProgram(cp)
	if err != nil {
		return nil, err
	}
	key := fv.Name + "@" + fv.Version
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.byVer[key]; old != nil {
		return old, nil
	}
	r.byVer[key] = p
	return p, nil
}

// forStart is the program a new start of name uses: what the last start of
// name used, else resolved afresh. The start's transaction confirms it.
func (r *resolver) forStart(ctx context.Context, name string) (*program, error) {
	r.mu.RLock()
	p := r.lastStart[name]
	r.mu.RUnlock()
	if p != nil {
		return p, nil
	}
	p, err := r.resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.lastStart[name] = p
	r.mu.Unlock()
	return p, nil
}

// resolve reads what serves name now: the catalogue entry's version (or a
// *RetiredError), else the newest version installed here, else the newest
// stored.
func (r *resolver) resolve(ctx context.Context, name string) (*program, error) {
	entry, err := r.st.GetCatalogueEntry(ctx, name)
	switch {
	case err == nil && entry.Retired:
		re := &RetiredError{Name: name, Version: entry.Version, File: entry.File}
		if entry.RetiredAt != nil {
			re.At = *entry.RetiredAt
		}
		return nil, re
	case err == nil:
		return r.pinned(ctx, name, entry.Version)
	case !errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("workflow %q: %w", name, err)
	}
	r.mu.RLock()
	p := r.newest[name]
	r.mu.RUnlock()
	if p != nil {
		return p, nil
	}
	fv, err := r.st.LatestFlowVersion(ctx, name)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("workflow %q: no version loaded or stored: %w", name, ErrNotFound)
		}
		return nil, fmt.Errorf("workflow %q: %w", name, err)
	}
	return r.decode(fv)
}

// confirm checks, inside a start's transaction, that p is still what the
// catalogue serves for its workflow: a *staleError if the workflow was
// retired or another version serves now. A workflow the catalogue never
// served keeps the version resolve chose.
func (r *resolver) confirm(ctx context.Context, tx store.Tx, p *program) error {
	entry, err := tx.GetCatalogueEntry(ctx, p.Name)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("workflow %q: %w", p.Name, err)
	}
	if entry.Retired || entry.Version != p.Version {
		return &staleError{Name: p.Name}
	}
	return nil
}

// forget drops what the last start of name used.
func (r *resolver) forget(name string) {
	r.mu.Lock()
	delete(r.lastStart, name)
	r.mu.Unlock()
}

// forgetAll drops what every start used (after a swap).
func (r *resolver) forgetAll() {
	r.mu.Lock()
	clear(r.lastStart)
	r.mu.Unlock()
}

// children resolves the workflows prog may start as children; each child
// step confirms its program in its own transaction.
func (r *resolver) children(ctx context.Context, prog *program) (childSet, error) {
	if len(prog.Children) == 0 {
		return nil, nil
	}
	out := make(childSet, len(prog.Children))
	for _, name := range prog.Children {
		cp, err := r.forStart(ctx, name)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				out[name] = childProgram{err: err} // the child step fails with it
				continue
			}
			return nil, err
		}
		out[name] = childProgram{p: cp}
	}
	return out, nil
}
