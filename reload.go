package memflow

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/internal/flowfile"
	"github.com/memflow/memflow/internal/store"
	"github.com/memflow/memflow/internal/watch"
	"github.com/memflow/memflow/runtime"
)

// Hot reload. The flows at some paths form one catalogue; loading it again
// either serves all of it (each workflow's new version is stored and new
// starts use it at once, in every process on the database; workflows whose
// files are gone stop taking new starts) or, when anything in it does not
// load, changes nothing: the previous versions keep serving and the errors
// are reported and recorded. Running instances always finish on the version
// they started with.

// ErrRetired is returned (wrapped in a *RetiredError) when starting a
// workflow whose flow was removed from the flows. IsNotFound holds for it
// too.
var ErrRetired = runtime.ErrRetired

// RetiredError names the removed workflow, its last version and file.
type RetiredError = runtime.RetiredError

// FlowChange is one workflow a load changed: From is "" for a new workflow,
// To is "" for a removed one.
type FlowChange struct {
	Name string `json:"name"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	File string `json:"file,omitempty"`
}

// Reload is the outcome of one load of the flows.
type Reload struct {
	At      time.Time    `json:"at"`
	First   bool         `json:"first,omitempty"` // the watcher's initial load
	Serving int          `json:"serving"`         // workflows loaded from the paths
	Changes []FlowChange `json:"changes,omitempty"`
	Errors  []string     `json:"errors,omitempty"` // file:line:col: message; the flows did not load
}

// OK reports whether the flows loaded.
func (r Reload) OK() bool { return len(r.Errors) == 0 }

// Summary is the one-line account of r, e.g.
// "reload: 2 flows changed: researchAgent 3f2a1b2c->9b1c0d3e, newFlow (new) 77aa0011; 1 removed: oldFlow"
// or "reload failed, keeping the previous flows: 2 errors".
func (r Reload) Summary() string {
	verb := "reload"
	if r.First {
		verb = "load"
	}
	if !r.OK() {
		return fmt.Sprintf("%s failed, keeping the previous flows: %s", verb, plural(len(r.Errors), "error"))
	}
	var changed, removed []string
	for _, c := range r.Changes {
		switch {
		case c.To == "":
			removed = append(removed, c.Name)
		case c.From == "":
			changed = append(changed, fmt.Sprintf("%s (new) %s", c.Name, shortVersion(c.To)))
		default:
			changed = append(changed, fmt.Sprintf("%s %s->%s", c.Name, shortVersion(c.From), shortVersion(c.To)))
		}
	}
	if len(changed) == 0 && len(removed) == 0 {
		return fmt.Sprintf("%s: no flow changed (%s serving)", verb, plural(r.Serving, "flow"))
	}
	var parts []string
	if len(changed) > 0 {
		parts = append(parts, fmt.Sprintf("%s changed: %s", plural(len(changed), "flow"), strings.Join(changed, ", ")))
	}
	if len(removed) > 0 {
		parts = append(parts, fmt.Sprintf("%d removed: %s", len(removed), strings.Join(removed, ", ")))
	}
	return verb + ": " + strings.Join(parts, "; ")
}

// String is Summary followed by the errors, one per line.
func (r Reload) String() string {
	if r.OK() {
		return r.Summary()
	}
	return r.Summary() + "\n" + strings.Join(r.Errors, "\n")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func shortVersion(v string) string {
	if len(v) > 8 {
		return v[:8]
	}
	return v
}

// ReloadFlows loads the whole catalogue at paths (files and folders; hidden
// and editor temporary files are skipped) against the registered activities.
// If every file loads, each workflow's version is stored and serves new
// starts at once, everywhere on the database, and every workflow that served
// from a file under paths but is no longer there is removed: starting it
// fails with a *RetiredError. If anything does not load, nothing changes,
// the attempt is recorded with its errors (see Flows) and the returned error
// is a *FlowError. Either way the returned Reload says what happened.
func (e *Engine) ReloadFlows(ctx context.Context, paths ...string) (Reload, error) {
	r := Reload{At: e.now()}
	source := loadSource(paths)
	cat, fe := e.compile(paths)
	if fe != nil {
		r.Errors = fe.Errors()
		if err := e.rt.RecordLoadFailure(context.WithoutCancel(ctx), source, r.Errors); err != nil {
			return r, fmt.Errorf("%w\nrecord the failed load: %v", fe, err)
		}
		return r, fe
	}
	changes, err := e.rt.SwapCatalogue(ctx, cat, runtime.SwapParams{Scope: paths, Source: source})
	if err != nil {
		r.Errors = []string{err.Error()}
		return r, err
	}
	r.Serving = len(cat.Programs)
	r.Changes = flowChanges(changes)
	return r, nil
}

// compile loads the flow files at paths as one catalogue against e's
// activities. No flow file at all is an error: an emptied folder is far more
// often a mistake (a move, a checkout) than a wish to stop every workflow.
func (e *Engine) compile(paths []string) (*compiler.Catalogue, *FlowError) {
	files, errs := flowfile.List(paths)
	if len(errs) == 0 && len(files) == 0 {
		errs = append(errs, fmt.Errorf("%s: no flow files (*.yaml, *.yml)", strings.Join(paths, ", ")))
	}
	if len(errs) > 0 {
		fe := &FlowError{}
		for _, err := range errs {
			fe.Diagnostics = append(fe.Diagnostics, err.Error())
		}
		return nil, fe
	}
	cat, ds := compiler.Load(files, compiler.Options{Activities: e.acts, App: e.app})
	if ds.HasErrors() || cat == nil {
		return nil, &FlowError{Diagnostics: diagStrings(ds)}
	}
	return cat, nil
}

func flowChanges(cs []store.CatalogueChange) []FlowChange {
	out := make([]FlowChange, len(cs))
	for i, c := range cs {
		out[i] = FlowChange{Name: c.Name, From: c.From, To: c.To, File: c.File}
	}
	return out
}

// loadSource names this process and the paths in load reports.
func loadSource(paths []string) string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s pid %d: %s", host, os.Getpid(), strings.Join(paths, ", "))
}

// Errors returns the error diagnostics (warnings dropped).
func (e *FlowError) Errors() []string {
	var out []string
	for _, d := range e.Diagnostics {
		if !strings.Contains(d, ": warning: ") {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		out = []string{e.Error()}
	}
	return out
}

// WatchConfig configures Watch.
type WatchConfig struct {
	// Paths are the flow files and folders (watched recursively). Required.
	Paths []string
	// Quiet is how long the files must stay unchanged before a burst of
	// changes is loaded, once. Default 200ms.
	Quiet time.Duration
	// OnReload receives every load's outcome, the initial one included.
	// Default: one line through Config.Logger (Info when the flows loaded;
	// Error, then one Error line per problem, when they did not).
	OnReload func(Reload)
}

// WatchFlows is Watch with the default configuration: it loads the flows at
// paths, then loads them again after every burst of changes to their files,
// until ctx ends. See ReloadFlows for what a load does.
func (e *Engine) WatchFlows(ctx context.Context, paths ...string) error {
	return e.Watch(ctx, WatchConfig{Paths: paths})
}

// Watch loads the flows at cfg.Paths and keeps them loaded: a change to any
// flow file under them (editors' rename-over saves, new files and folders,
// deletions) loads the whole catalogue again after a quiet period. A
// catalogue that does not load, initially or later, leaves the previous
// versions serving and is reported; Watch goes on watching. It returns when
// ctx ends (nil), or an error when the paths cannot be watched.
func (e *Engine) Watch(ctx context.Context, cfg WatchConfig) error {
	if len(cfg.Paths) == 0 {
		return errors.New("watch flows: no paths")
	}
	report := cfg.OnReload
	if report == nil {
		report = e.logReload
	}
	w, err := watch.New(watch.Config{Paths: cfg.Paths, Quiet: cfg.Quiet, OnError: func(err error) {
		e.rt.Logger().Warn("watch flows", "error", err)
	}})
	if err != nil {
		return fmt.Errorf("watch flows: %w", err)
	}
	load := func(ctx context.Context, first bool) {
		r, _ := e.ReloadFlows(ctx, cfg.Paths...)
		r.First = first
		if ctx.Err() == nil { // a load cut short by shutdown is no news
			report(r)
		}
	}
	load(ctx, true) // after the watch is set, so no edit falls between
	return w.Run(ctx, func(ctx context.Context, _ []string) { load(ctx, false) })
}

// logReload is the default OnReload.
func (e *Engine) logReload(r Reload) {
	log := e.rt.Logger()
	if r.OK() {
		log.Info(r.Summary())
		return
	}
	log.Error(r.Summary())
	for _, msg := range r.Errors {
		log.Error(msg)
	}
}

// ServingFlow is a workflow of the serving catalogue.
type ServingFlow struct {
	Name      string     `json:"name"`
	Version   string     `json:"version"` // new starts use it; the last one that served when removed
	File      string     `json:"file"`
	LoadedAt  time.Time  `json:"loadedAt"`
	Removed   bool       `json:"removed"`
	RemovedAt *time.Time `json:"removedAt,omitempty"`
}

// LoadAttempt is one recorded load of the flows, by any process.
type LoadAttempt struct {
	At      time.Time    `json:"at"`
	OK      bool         `json:"ok"`
	Source  string       `json:"source"`
	Errors  []string     `json:"errors,omitempty"`
	Changes []FlowChange `json:"changes,omitempty"`
}

// FlowStatus is what serves new starts on the database and how the last
// load went.
type FlowStatus struct {
	Flows    []ServingFlow `json:"flows"`
	LastLoad *LoadAttempt  `json:"lastLoad,omitempty"`
	// LastError is LastLoad when it failed: the flows on disk do not load
	// and the versions listed keep serving.
	LastError *LoadAttempt `json:"lastError,omitempty"`
}

// Flows reads the serving catalogue from the database: each workflow, its
// current version, when it loaded and whether it was removed, plus the last
// load attempt and, when the flows on disk currently fail to load, its
// errors.
func (e *Engine) Flows(ctx context.Context) (*FlowStatus, error) {
	entries, err := e.st.ListCatalogue(ctx)
	if err != nil {
		return nil, err
	}
	st := &FlowStatus{Flows: make([]ServingFlow, len(entries))}
	for i, c := range entries {
		st.Flows[i] = ServingFlow{Name: c.Name, Version: c.Version, File: c.File, LoadedAt: c.LoadedAt,
			Removed: c.Retired, RemovedAt: c.RetiredAt}
	}
	reports, err := e.st.LoadReports(ctx, 1)
	if err != nil {
		return nil, err
	}
	if len(reports) > 0 {
		last := loadAttempt(reports[0])
		st.LastLoad = &last
		if !last.OK {
			st.LastError = &last
		}
	}
	return st, nil
}

func loadAttempt(r store.LoadReport) LoadAttempt {
	return LoadAttempt{At: r.At, OK: r.OK, Source: r.Source, Errors: r.Errors, Changes: flowChanges(r.Changes)}
}
