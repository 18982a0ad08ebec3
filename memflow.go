package memflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/memflow/memflow/activities"
	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/internal/store"
	"github.com/memflow/memflow/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// DefaultDatabase is the embedded store used when Open gets no URL and the
// app is DefaultApp; another app's is DefaultDatabaseFor(app).
const DefaultDatabase = "sqlite:.memflow/memflow.db"

// DefaultDatabaseFor is the embedded store of app when Open gets no URL:
// sqlite:.memflow/<app>.db. An SQLite file holds one app, so each app gets
// its own file (DefaultDatabase for DefaultApp).
func DefaultDatabaseFor(app string) string { return "sqlite:.memflow/" + app + ".db" }

// DefaultApp is the app id used when Config.App is empty.
const DefaultApp = "memflow"

// Config configures an Engine.
type Config struct {
	// App is the app id: the Postgres schema (dashes become underscores),
	// the app an SQLite file holds (a file holds one app; opening it for
	// another fails) and the default app of flow files. Default "memflow".
	App string
	// Logger receives the engine's logs. Default: discard.
	Logger *slog.Logger
	// Clock replaces time.Now (tests). Default time.Now.
	Clock func() time.Time
	// Limits bounds what instances may do (descendants, child depth, loop
	// iterations, history rows, task attempts, database timeouts); zero
	// fields take the defaults listed in docs/engine.md.
	Limits Limits
	// HTTPAllow is the allow-list of the built-in http.request: host
	// names, host:port, *.domain, addresses and CIDR ranges. Empty: public
	// addresses and loopback. Link-local and cloud metadata addresses are
	// refused either way unless a CIDR entry inside them is listed. See
	// activities.HTTPPolicy.
	HTTPAllow []string
	// HTTPMaxBody bounds the response body http.request reads, in bytes.
	// Default activities.MaxHTTPResponse (1 MiB).
	HTTPMaxBody int64
	// Metrics, when set, receives the engine's Prometheus metrics
	// (memflow_workflows_started_total and the rest: docs/operations.md);
	// serve them with promhttp.HandlerFor. nil: no metrics, no cost.
	Metrics prometheus.Registerer
	// TracerProvider makes the engine's OpenTelemetry spans: a trace per
	// instance whose spans are its transitions and activity attempts, in
	// whichever process they run (docs/operations.md). nil: the global
	// provider (otel.GetTracerProvider), which records nothing unless the
	// program sets one. Start joins the trace of a span its ctx carries.
	TracerProvider trace.TracerProvider

	// wrapStore, when set, wraps the opened store (tests inject faults).
	wrapStore func(store.Store) store.Store
	// mustExist: set by OpenExisting.
	mustExist bool
}

// Limits bounds what instances may do; see runtime.Limits.
type Limits = runtime.Limits

// Engine is an open memflow engine. It is safe for concurrent use.
type Engine struct {
	app  string
	st   store.Store
	acts *activities.Registry
	rt   *runtime.Engine
	now  func() time.Time
}

// ErrNotFound is returned for an unknown workflow id or workflow name.
var ErrNotFound = store.ErrNotFound

// ErrInvalidInput is returned when start or hook arguments do not match the
// declared input schema.
var ErrInvalidInput = runtime.ErrInvalidInput

// ErrIDTaken matches the *IDTakenError Start returns for an id that an
// instance of another workflow holds.
var ErrIDTaken = runtime.ErrIDTaken

// IDTakenError names the requested id and the workflow of the instance
// holding it.
type IDTakenError = runtime.IDTakenError

// StartUncertainError is a start whose commit may have landed although the
// database failed before confirming it, and could not be asked afterwards:
// the instance may exist under its ID.
type StartUncertainError = runtime.StartUncertainError

// Open opens the store at dbURL (provisioning it on first use) and returns
// an engine with the built-in activities registered.
func Open(ctx context.Context, dbURL string, cfg Config) (*Engine, error) {
	if cfg.App == "" {
		cfg.App = DefaultApp
	}
	if err := store.ValidateApp(cfg.App); err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg.Logger = cfg.Logger.With("app", cfg.App)
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	acts, err := activities.NewRegistryWithHTTP(activities.HTTPPolicy{Allow: cfg.HTTPAllow, MaxBody: cfg.HTTPMaxBody})
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	if dbURL == "" {
		dbURL = DefaultDatabaseFor(cfg.App)
	}
	storeOpts := []store.Option{store.WithClock(cfg.Clock)}
	if cfg.mustExist {
		storeOpts = append(storeOpts, store.MustExist())
	} else if path, ok := strings.CutPrefix(dbURL, "sqlite:"); ok && !strings.HasPrefix(path, "//") {
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("open %s: %w", store.Redact(dbURL), err)
			}
		}
	}
	st, err := store.Open(ctx, dbURL, cfg.App, storeOpts...)
	if err != nil {
		return nil, err
	}
	if cfg.wrapStore != nil {
		st = cfg.wrapStore(st)
	}
	rt, err := runtime.New(runtime.Config{Store: st, Activities: acts, Logger: cfg.Logger, Clock: cfg.Clock, Limits: cfg.Limits,
		Metrics: cfg.Metrics, TracerProvider: cfg.TracerProvider, App: cfg.App})
	if err != nil {
		st.Close()
		return nil, err
	}
	return &Engine{app: cfg.App, st: st, acts: acts, rt: rt, now: cfg.Clock}, nil
}

// OpenExisting is Open for an app that must already be in the database: it
// creates no SQLite file, schema or table, and an app that is not there
// gives a *NoAppError naming the apps that are (matched by errors.As).
// Tools that only read (memflow get, find, history, result) open this way,
// so a misspelled app or a wrong folder is an error, not an empty answer.
func OpenExisting(ctx context.Context, dbURL string, cfg Config) (*Engine, error) {
	cfg.mustExist = true
	return Open(ctx, dbURL, cfg)
}

// NoAppError is OpenExisting finding no such app in the database.
type NoAppError = store.NoAppError

// Close closes the store. Stop workers (cancel Run's context) first.
func (e *Engine) Close() error { return e.st.Close() }

// App is the engine's app id.
func (e *Engine) App() string { return e.app }

// Register adds an activity: a plain Go function of one of the shapes
// func(ctx, In) (Out, error), func(ctx, In) error, func(ctx) (Out, error),
// with JSON-able In and Out. Register activities before LoadFlows.
func (e *Engine) Register(name string, fn any) error { return e.acts.Register(name, fn) }

// Activities is the engine's activity registry.
func (e *Engine) Activities() *activities.Registry { return e.acts }

// LoadFlows compiles the flow files and folders at paths against the
// registered activities and stores each workflow's version in the database,
// so any worker can resume its instances. New starts use these versions.
// Declared entity indexes are created. Every problem found is returned in
// one error, each as file:line:col: message. It is ReloadFlows without the
// report (reload.go): workflows that served from files under paths and are
// gone stop taking new starts, and a failed load is recorded.
func (e *Engine) LoadFlows(ctx context.Context, paths ...string) error {
	_, err := e.ReloadFlows(ctx, paths...)
	return withRegisterHint(err, e.acts.Names())
}

// withRegisterHint adds to a FlowError that names an unknown activity the
// hint that activities are checked when flows load, so Register comes
// first; registered lists the activities registered at the time.
func withRegisterHint(err error, registered []string) error {
	var fe *FlowError
	if !errors.As(err, &fe) {
		return err
	}
	for _, d := range fe.Diagnostics {
		if strings.Contains(d, ": unknown activity ") {
			fe.Hint = "flows are checked against the activities registered when they load: call Engine.Register for each activity before LoadFlows (registered: " +
				strings.Join(registered, ", ") + ")"
			break
		}
	}
	return err
}

// Workflows lists the workflows loaded in this engine, sorted.
func (e *Engine) Workflows() []string {
	var names []string
	for _, p := range e.rt.Loaded() {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	return names
}

// FlowError is a flow that did not load: every diagnostic, rendered
// file:line:col: message.
type FlowError struct {
	Diagnostics []string
	// Hint, when set, is a last line saying what to do (LoadFlows: register
	// activities before loading).
	Hint string
}

func (e *FlowError) Error() string {
	if len(e.Diagnostics) == 0 {
		return "flows did not load"
	}
	msg := strings.Join(e.Diagnostics, "\n")
	if e.Hint != "" {
		msg += "\n" + e.Hint
	}
	return msg
}

func diagStrings[T fmt.Stringer](ds []T) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.String())
	}
	return out
}

// WorkerConfig configures Run. Zero fields take defaults.
type WorkerConfig struct {
	Queues      []string      // task queues to serve; empty: all
	Concurrency int           // tasks in flight; default 10
	Lease       time.Duration // task lease; a dead worker's tasks return after it; default 30s
	Poll        time.Duration // longest wait between claims without a wakeup; default 1s
	Grace       time.Duration // how long in-flight activities may finish at shutdown; default 10s
	// Heartbeat is how often a running activity extends its task's lease,
	// so activities may run longer than Lease; default Lease/3. Negative
	// turns it off: an activity outliving the lease may then run twice
	// (its result is still committed once).
	Heartbeat time.Duration
	// Root restricts the worker to one instance tree: the instance Root
	// and every instance started under it. "" serves every instance.
	Root string
}

// Run works on tasks until ctx ends, then shuts down gracefully.
func (e *Engine) Run(ctx context.Context, cfg WorkerConfig) error {
	return e.rt.Work(ctx, runtime.WorkerConfig{Queues: cfg.Queues, Concurrency: cfg.Concurrency,
		Lease: cfg.Lease, Poll: cfg.Poll, Grace: cfg.Grace, Heartbeat: cfg.Heartbeat, Root: cfg.Root})
}

// StartOption adjusts Start.
type StartOption func(*startOptions)

type startOptions struct {
	id     string
	queue  string
	expire time.Duration
	entity any
}

// WithID names the instance. Starting an id that an instance of the same
// workflow holds returns it and starts nothing; an id that an instance of
// another workflow holds is an error (ErrIDTaken).
func WithID(id string) StartOption { return func(o *startOptions) { o.id = id } }

// WithTaskQueue runs the instance's tasks on queue instead of its
// workflow's taskQueue (workers must serve it). Its children and hooks
// keep their own queues.
func WithTaskQueue(queue string) StartOption { return func(o *startOptions) { o.queue = queue } }

// WithExpire deletes the instance's rows, its tasks and history, d after
// it ends (completed, failed or cancelled); workers delete them about
// once a minute. Without it they are kept.
func WithExpire(d time.Duration) StartOption { return func(o *startOptions) { o.expire = d } }

// WithEntity seeds the instance's entity document (a JSON object) instead
// of {}; it must match the entity type's schema (ErrInvalidInput).
func WithEntity(doc any) StartOption { return func(o *startOptions) { o.entity = doc } }

// Start starts workflow with args and returns its id. The arguments are
// validated against the workflow's input schema first (ErrInvalidInput:
// nothing is written). The newest version loaded in this engine is used, or
// the newest stored in the database when this engine loaded none. With
// tracing on, the instance's trace is a child of the span ctx carries, if
// any (an HTTP request's traceparent, say), else a trace of its own.
func (e *Engine) Start(ctx context.Context, workflow string, args any, opts ...StartOption) (string, error) {
	var o startOptions
	for _, f := range opts {
		f(&o)
	}
	id, _, err := e.rt.Start(ctx, runtime.StartParams{Workflow: workflow, ID: o.id, Args: args,
		TaskQueue: o.queue, Expire: o.expire, Entity: o.entity})
	return id, err
}

// Hook starts hook on the entity of running instance id.
func (e *Engine) Hook(ctx context.Context, id, hook string, args any) error {
	return e.rt.Hook(ctx, id, hook, args)
}

// Signal sends a signal to instance id; it is delivered to the first wait of
// that name, now or when one starts waiting. A signal to an id that no
// instance holds yet is kept (Limits.PendingSignalTTL, default 24h) and
// delivered, in the order sent, when an instance with that id starts.
func (e *Engine) Signal(ctx context.Context, id, name string, data any) error {
	return e.rt.Signal(ctx, id, name, data)
}

// SignalWithStart sends a signal to instance id, first starting workflow
// with args as that id when no instance holds it; the start and the signal
// then commit together. When an instance of workflow holds id already it
// only receives the signal; another workflow's instance is ErrIDTaken. It
// reports whether it started the instance.
//
// Of opts, WithTaskQueue, WithExpire and WithEntity apply to the start.
func (e *Engine) SignalWithStart(ctx context.Context, id, name string, data any, workflow string, args any, opts ...StartOption) (started bool, err error) {
	var o startOptions
	for _, f := range opts {
		f(&o)
	}
	_, started, err = e.rt.SignalWithStart(ctx, runtime.StartParams{Workflow: workflow, ID: id, Args: args,
		TaskQueue: o.queue, Expire: o.expire, Entity: o.entity}, name, data)
	return started, err
}

// Cancel cancels instance id, its hooks and its children.
func (e *Engine) Cancel(ctx context.Context, id string) error { return e.rt.Cancel(ctx, id) }

// CancelTree cancels instance id if it runs and every running instance
// started under it (its children, theirs and so on, detached or not), also
// when id already ended. It returns how many instances it cancelled.
func (e *Engine) CancelTree(ctx context.Context, id string) (int, error) {
	return e.rt.CancelTree(ctx, id)
}

// Status values of an Instance.
const (
	StatusRunning   = store.StatusRunning
	StatusCompleted = store.StatusCompleted
	StatusFailed    = store.StatusFailed
	StatusCancelled = store.StatusCancelled
)

// Instance is a workflow instance as stored.
type Instance struct {
	ID          string          `json:"id"`
	Workflow    string          `json:"workflow"`
	Version     string          `json:"version"`
	EntityType  string          `json:"entityType"`
	Status      string          `json:"status"`
	Entity      json.RawMessage `json:"entity"`
	Input       json.RawMessage `json:"input,omitempty"`
	Result      json.RawMessage `json:"result,omitempty"`
	Error       string          `json:"error,omitempty"`
	CreatedAt   time.Time       `json:"createdAt"`
	UpdatedAt   time.Time       `json:"updatedAt"`
	CompletedAt *time.Time      `json:"completedAt,omitempty"`
}

func instanceOf(j *store.Job) *Instance {
	return &Instance{ID: j.ID, Workflow: j.Flow, Version: j.Version, EntityType: j.Entity, Status: j.Status,
		Entity: j.Context, Input: j.Input, Result: j.Result, Error: j.Error, CreatedAt: j.CreatedAt,
		UpdatedAt: j.UpdatedAt, CompletedAt: j.CompletedAt}
}

// Get reads instance id.
func (e *Engine) Get(ctx context.Context, id string) (*Instance, error) {
	j, err := e.st.GetJob(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &noInstanceError{id: id}
	}
	if err != nil {
		return nil, err // the store's message names the operation and the id
	}
	return instanceOf(j), nil
}

// Entity reads instance id's entity document.
func (e *Engine) Entity(ctx context.Context, id string) (json.RawMessage, error) {
	in, err := e.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return in.Entity, nil
}

// EntityAt returns instance id's entity as it was right after its history
// row seq committed (Event.Seq): entity time travel. Each transition that
// changes the entity stores the JSON patch it made, in its own transaction;
// EntityAt replays them. A seq beyond the history is ErrNotFound; an
// instance that started before patches were stored gives ErrNoTimeTravel.
func (e *Engine) EntityAt(ctx context.Context, id string, seq int64) (json.RawMessage, error) {
	return e.rt.EntityAt(ctx, id, seq)
}

// ErrEnded matches the error of a hook, signal or cancel sent to an
// instance that has already ended.
var ErrEnded = runtime.ErrEnded

// ErrNoTimeTravel is EntityAt's error for an instance that started before
// this version of memflow recorded entity changes.
var ErrNoTimeTravel = runtime.ErrNoTimeTravel

// noInstanceError is Get's error for an id no instance has; it matches
// ErrNotFound.
type noInstanceError struct{ id string }

func (e *noInstanceError) Error() string        { return fmt.Sprintf("no instance %q", e.id) }
func (e *noInstanceError) Is(target error) bool { return target == ErrNotFound }

// WorkflowError is the outcome of an instance that failed or was cancelled.
type WorkflowError struct {
	ID      string
	Status  string // failed or cancelled
	Message string
}

func (e *WorkflowError) Error() string {
	return fmt.Sprintf("workflow %q %s: %s", e.ID, e.Status, e.Message)
}

// Result waits until instance id ends and returns its result; a failed or
// cancelled instance gives a *WorkflowError. An end this engine commits is
// seen at once, without reading the database; one committed by another
// process is seen by polling (at most 200ms apart, or one to two seconds
// apart while this engine runs a worker). Transient database errors (a
// dropped connection, a restarting server, a busy SQLite file) are retried
// with back-off until ctx ends; the error then says for how long and gives
// the last database error. An unknown id and other errors return at once.
//
// Result only waits: it runs nothing. With no worker serving the
// instance's queue (Engine.Run in this process, or `memflow worker`
// against the same database) it waits, silently, until ctx ends, so give
// ctx a deadline. ResultAs decodes the result into a Go type.
func (e *Engine) Result(ctx context.Context, id string) (json.RawMessage, error) {
	if o, ok := e.rt.EndedHere(id); ok {
		res, err, _ := outcome(id, o.Status, o.Result, o.Error)
		return res, err
	}
	ended, stop := e.rt.WatchEnd(id)
	defer stop()
	// An instance this engine started and has not seen end runs (or ended
	// elsewhere, which the first poll finds): skip the first read.
	check := !e.rt.RunningHere(id)
	// With a worker in this engine, ends are mostly seen in-process and a
	// poll only catches ends committed elsewhere; without one, every end
	// comes from elsewhere, so poll briskly.
	delay, maxDelay := time.Second, 2*time.Second
	if !e.rt.Working() {
		delay, maxDelay = 10*time.Millisecond, 200*time.Millisecond
	}
	var failing retrying
	for {
		wait := delay
		if check {
			in, err := e.Get(ctx, id)
			switch {
			case err != nil && ctx.Err() != nil:
				return nil, failing.ended(fmt.Sprintf("result of %q", id), ctx.Err())
			case err != nil && store.IsTransient(err):
				wait = failing.failed(err)
			case err != nil:
				return nil, err
			default:
				failing = retrying{}
				if res, err, done := outcome(id, in.Status, in.Result, in.Error); done {
					e.rt.Forget(id)
					return res, err
				}
			}
		}
		check = true
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, failing.ended(fmt.Sprintf("result of %q", id), ctx.Err())
		case o := <-ended:
			t.Stop()
			if res, err, done := outcome(id, o.Status, o.Result, o.Error); done {
				return res, err
			}
		case <-t.C:
		}
		if failing.since.IsZero() {
			delay = min(delay*2, maxDelay)
		}
	}
}

// retrying tracks a run of transient database errors in a wait: when it
// began, the last error and the next back-off.
type retrying struct {
	since   time.Time
	last    error
	backoff time.Duration
}

// failed records a transient error and returns how long to wait before the
// next try: 50ms, doubling up to 2s.
func (r *retrying) failed(err error) time.Duration {
	if r.since.IsZero() {
		r.since, r.backoff = time.Now(), 50*time.Millisecond
	} else {
		r.backoff = min(r.backoff*2, 2*time.Second)
	}
	r.last = err
	return r.backoff
}

// ended is the error a wait ends with when ctx ends: ctx's error, or, while
// database errors were being retried, how long that went on and the last of
// them (wrapped, so the caller sees a database failure, not a timeout).
func (r *retrying) ended(op string, ctxErr error) error {
	if r.since.IsZero() {
		return fmt.Errorf("%s: %w", op, ctxErr)
	}
	return fmt.Errorf("%s: the database kept failing for %s, retried until the wait ended (%v); last error: %w",
		op, time.Since(r.since).Round(time.Millisecond), ctxErr, r.last)
}

// outcome turns an instance's status into Result's return values; done is
// false while it runs.
func outcome(id, status string, result json.RawMessage, msg string) (json.RawMessage, error, bool) {
	switch status {
	case StatusCompleted:
		return result, nil, true
	case StatusFailed, StatusCancelled:
		return nil, &WorkflowError{ID: id, Status: status, Message: msg}, true
	}
	return nil, nil, false
}

// ResultAs is Engine.Result decoded into T: it waits until instance id ends
// (see Result: a worker must be running somewhere, and ctx should have a
// deadline) and unmarshals its JSON result. A failed or cancelled instance
// gives a *WorkflowError; a result that does not fit T an error naming T.
func ResultAs[T any](ctx context.Context, eng *Engine, id string) (T, error) {
	var v T
	raw, err := eng.Result(ctx, id)
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("result of %q as %T: %w", id, v, err)
	}
	return v, nil
}

// EntityAs is Engine.Entity decoded into T: instance id's entity document
// as it is now (running or ended), unmarshalled.
func EntityAs[T any](ctx context.Context, eng *Engine, id string) (T, error) {
	var v T
	raw, err := eng.Entity(ctx, id)
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("entity of %q as %T: %w", id, v, err)
	}
	return v, nil
}

// Condition is one filter of Find: the value at Path (dotted) tested by Op.
//   - "=" (the default when Op is ""), "!=", "<", "<=", ">", ">=": compare
//     with Value, a number, string, boolean or null; ordering needs a number
//     or a string, and only values of the same type compare.
//   - "like": a string matching the pattern Value: % matches any run of
//     characters, _ one character, \ makes the next one literal (see
//     EscapeLike). Case-sensitive on both stores.
//   - "prefix": a string starting with Value, taken literally (% and _ in it
//     are not wildcards).
//   - "in": equal to one of Value, a list of at most 1000 numbers, strings,
//     booleans or nulls; an empty list matches nothing.
//   - "contains": an array with an element equal to Value (a number, string,
//     boolean or null). CreateArrayIndex makes it an index lookup.
//   - "exists", "!exists": the path is present (even holding null), or
//     absent. Value must be nil.
//
// Values are always bound as SQL parameters; paths are validated (letters,
// digits, '_' and '-' in keys) and never spliced into SQL as given.
type Condition struct {
	Path  string `json:"path"`
	Op    string `json:"op"`
	Value any    `json:"value"`
}

// Where is an equality condition.
func Where(path string, value any) Condition { return Condition{Path: path, Op: "=", Value: value} }

// Like matches strings at path against a like pattern (% _ and \ escapes).
func Like(path, pattern string) Condition { return Condition{Path: path, Op: "like", Value: pattern} }

// Prefix matches strings at path that start with prefix, taken literally.
func Prefix(path, prefix string) Condition { return Condition{Path: path, Op: "prefix", Value: prefix} }

// In matches a value at path equal to one of values.
func In(path string, values ...any) Condition {
	if values == nil {
		values = []any{}
	}
	return Condition{Path: path, Op: "in", Value: values}
}

// Contains matches an array at path that has an element equal to value.
func Contains(path string, value any) Condition {
	return Condition{Path: path, Op: "contains", Value: value}
}

// Exists matches documents that have path (even holding null).
func Exists(path string) Condition { return Condition{Path: path, Op: "exists"} }

// NotExists matches documents that lack path.
func NotExists(path string) Condition { return Condition{Path: path, Op: "!exists"} }

// EscapeLike escapes %, _ and \ in s so that a "like" pattern matches them
// literally: Like(p, EscapeLike(s)+"%") is Prefix(p, s).
func EscapeLike(s string) string { return store.EscapeLike(s) }

// ParseWhere reads Find's conditions from JSON: an object of path: value
// equalities, {"status": "done"}, or a list of {path, op, value}. Numbers
// stay exact (json.Number).
func ParseWhere(b []byte) ([]Condition, error) {
	if !json.Valid(b) {
		var v any
		return nil, fmt.Errorf("where must be a JSON object or list of {path, op, value}: %v", json.Unmarshal(b, &v))
	}
	decode := func(v any) error {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		return d.Decode(v)
	}
	var list []Condition
	if err := decode(&list); err == nil {
		return list, nil
	}
	var m map[string]any
	if err := decode(&m); err != nil {
		return nil, fmt.Errorf("where must be a JSON object or list of {path, op, value}: %v", err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		list = append(list, Where(k, m[k]))
	}
	return list, nil
}

// FindOptions sorts and pages Find.
type FindOptions struct {
	Limit  int // default 100 (0), at most 10000; negative is an error
	Offset int // default 0; negative is an error; not with After
	// Sort is the path of a field to order by (default: by instance id).
	// Values order by type first (numbers, strings, booleans, objects and
	// arrays, then null or missing), then numbers numerically and strings
	// bytewise; equal values order by id. Desc reverses the order within
	// each type, so documents without the field come last either way.
	Sort string
	Desc bool
	// After is the cursor a previous page returned as FindResult.Next: the
	// page after it, by keyset (rows added or removed meanwhile shift
	// nothing). It only fits the same entity type, conditions and sort.
	After string
}

// FindResult is one page of FindPage. Next is the cursor of the next page
// (FindOptions.After), "" on the last one.
type FindResult struct {
	Instances []*Instance `json:"instances"`
	Next      string      `json:"next,omitempty"`
}

// Find lists instances of entityType whose entity documents match every
// condition.
func (e *Engine) Find(ctx context.Context, entityType string, where []Condition, opts FindOptions) ([]*Instance, error) {
	r, err := e.FindPage(ctx, entityType, where, opts)
	if err != nil {
		return nil, err
	}
	return r.Instances, nil
}

// FindPage is Find returning the cursor of the next page too.
func (e *Engine) FindPage(ctx context.Context, entityType string, where []Condition, opts FindOptions) (*FindResult, error) {
	if opts.Limit < 0 || opts.Offset < 0 {
		return nil, fmt.Errorf("find %s: limit %d and offset %d must not be negative", entityType, opts.Limit, opts.Offset)
	}
	f := make(store.Filter, 0, len(where))
	for _, c := range where {
		op := c.Op
		if op == "" {
			op = "="
		}
		f = append(f, store.Condition{Path: c.Path, Op: op, Value: c.Value})
	}
	pg, err := e.st.FindPage(ctx, entityType, f, store.FindParams{Limit: opts.Limit, Offset: opts.Offset,
		Sort: opts.Sort, Desc: opts.Desc, Cursor: opts.After})
	if err != nil {
		return nil, err // the store's message starts "find <entity type>:"
	}
	out := make([]*Instance, len(pg.Jobs))
	for i := range pg.Jobs {
		out[i] = instanceOf(&pg.Jobs[i])
	}
	return &FindResult{Instances: out, Next: pg.Next}, nil
}

// CreateIndex creates an index on field (a dotted path) of entityType's
// documents, for the comparisons, "in" and equality. Idempotent.
func (e *Engine) CreateIndex(ctx context.Context, entityType, field string) error {
	return e.st.CreateIndex(ctx, entityType, field)
}

// CreateArrayIndex creates an index for "contains" on the array at field
// (a dotted path) of entityType's documents: a GIN index (jsonb_path_ops) on
// Postgres; on SQLite, which has no index over the elements of a JSON array,
// a table of the elements kept current by triggers. Idempotent.
func (e *Engine) CreateArrayIndex(ctx context.Context, entityType, field string) error {
	return e.st.CreateArrayIndex(ctx, entityType, field)
}

// Event is one history row of an instance: one per committed step, plus
// start, signals, retries, hooks and the end. Detail is a JSON object; rows
// of steps and of threads running a hook carry "desc" (what the step does,
// as `memflow graph` labels it) and "hook" (the hook's name).
type Event struct {
	Seq    int64           `json:"seq"`
	At     time.Time       `json:"at"`
	Kind   string          `json:"kind"`
	Thread string          `json:"thread,omitempty"`
	Step   string          `json:"step,omitempty"`
	Detail json.RawMessage `json:"detail,omitempty"`
}

// History reads instance id's history, oldest first.
func (e *Engine) History(ctx context.Context, id string) ([]Event, error) {
	hs, err := e.st.History(ctx, id)
	if err != nil {
		return nil, err // the store's message starts "history <id>:"
	}
	out := make([]Event, len(hs))
	for i, h := range hs {
		out[i] = Event{Seq: h.Seq, At: h.At, Kind: h.Kind, Thread: h.Thread, Step: h.Step, Detail: h.Detail}
	}
	return out, nil
}

// FlowVersion is a stored version of a workflow.
type FlowVersion struct {
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	File      string    `json:"file"`
	CreatedAt time.Time `json:"createdAt"`
}

// FlowVersions lists the workflow versions stored in the database.
func (e *Engine) FlowVersions(ctx context.Context) ([]FlowVersion, error) {
	vs, err := e.st.ListFlowVersions(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]FlowVersion, len(vs))
	for i, v := range vs {
		out[i] = FlowVersion{Name: v.Name, Version: v.Version, File: v.File, CreatedAt: v.CreatedAt}
	}
	return out, nil
}

// EntityTypes lists the entity types of the workflow versions stored in the
// database, sorted (Find's entityType; `memflow` completes instance ids
// with them).
func (e *Engine) EntityTypes(ctx context.Context) ([]string, error) {
	vs, err := e.st.ListFlowVersions(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, v := range vs {
		var p struct {
			Entity string `json:"entity"`
		}
		if json.Unmarshal(v.Program, &p) == nil && p.Entity != "" && !seen[p.Entity] {
			seen[p.Entity] = true
			out = append(out, p.Entity)
		}
	}
	sort.Strings(out)
	return out, nil
}

// IsNotFound reports whether err means an unknown instance or workflow.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// Status is what an instance is doing now: each live thread's step and
// what it waits for, or how the instance ended. See Engine.Status.
type Status = runtime.Status

// ThreadStatus is one live thread of a running instance; TaskStatus one
// pending task.
type (
	ThreadStatus = runtime.ThreadStatus
	TaskStatus   = runtime.TaskStatus
)

// What a thread is doing (ThreadStatus.Doing).
const (
	DoingRun      = runtime.DoingRun
	DoingActivity = runtime.DoingActivity
	DoingSignal   = runtime.DoingSignal
	DoingSleep    = runtime.DoingSleep
	DoingHooks    = runtime.DoingHooks
	DoingChild    = runtime.DoingChild
	DoingJoin     = runtime.DoingJoin
	DoingEnd      = runtime.DoingEnd
)

// Status tells what instance id is doing now: running a step, waiting for
// a signal (and its timeout), sleeping until a time, waiting for hooks, a
// child or an activity attempt; or how it ended. It only reads.
func (e *Engine) Status(ctx context.Context, id string) (*Status, error) {
	return e.rt.Describe(ctx, id)
}

// ListOptions selects and pages List.
type ListOptions struct {
	Workflow   string // "" any
	Status     string // Status* constant; "" any
	EntityType string // "" any
	IDPrefix   string // ids starting with this text; "" any
	Limit      int    // default 100 (0); at most 10000
	// After is the cursor List returned for the previous page ("" the
	// first page).
	After string
}

// List lists instances newest first, without their documents (Entity is
// empty; Get reads them). The cursor it returns continues after the last
// one listed; "" when the page was not full (no more).
func (e *Engine) List(ctx context.Context, opts ListOptions) ([]*Instance, string, error) {
	switch opts.Status {
	case "", StatusRunning, StatusCompleted, StatusFailed, StatusCancelled:
	default:
		return nil, "", fmt.Errorf("list instances: status %q is not one of running, completed, failed, cancelled", opts.Status)
	}
	p := store.ListParams{Flow: opts.Workflow, Status: opts.Status, Entity: opts.EntityType, IDPrefix: opts.IDPrefix, Limit: opts.Limit}
	if opts.After != "" {
		c, err := store.ParseCursor(opts.After)
		if err != nil {
			return nil, "", fmt.Errorf("list instances: %w", err)
		}
		p.After = c
	}
	jobs, err := e.st.ListJobs(ctx, p)
	if err != nil {
		return nil, "", err
	}
	out := make([]*Instance, len(jobs))
	for i := range jobs {
		out[i] = instanceOf(&jobs[i])
	}
	limit := opts.Limit
	if limit == 0 {
		limit = 100
	}
	next := ""
	if len(jobs) == limit {
		next = store.CursorOf(jobs[len(jobs)-1]).String()
	}
	return out, next, nil
}

// Ping checks that the database answers and holds the app.
func (e *Engine) Ping(ctx context.Context) error { return e.st.Ping(ctx) }

// Counts counts instances by status (running, completed, failed,
// cancelled), of one workflow or of all (""). Statuses no instance has are
// absent.
func (e *Engine) Counts(ctx context.Context, workflow string) (map[string]int, error) {
	return e.st.CountJobs(ctx, workflow)
}

// Program reads the compiled program of workflow name at version (""
// the version new starts use): its graph, its hooks' graphs and its input
// schema, as stored when the flow loaded.
func (e *Engine) Program(ctx context.Context, name, version string) (*compiler.Program, error) {
	if version == "" {
		c, err := e.st.GetCatalogueEntry(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("no workflow %q: %w", name, ErrNotFound)
		}
		if err != nil {
			return nil, err
		}
		version = c.Version
	}
	v, err := e.st.GetFlowVersion(ctx, name, version)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no version %q of workflow %q: %w", version, name, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return compiler.DecodeProgram(v.Program)
}

// WatchCommits returns a channel that receives when this engine commits a
// transition of instance id (a worker of this process, or a signal, hook or
// cancel sent through it); wake-ups coalesce, and commits of other
// processes are not seen. Pair it with HistoryAfter to follow an instance
// at once while polling for other processes' work. stop ends the watch.
func (e *Engine) WatchCommits(id string) (ch <-chan struct{}, stop func()) {
	return e.rt.WatchCommits(id)
}

// HistoryPage is the most rows one HistoryAfter call returns.
const HistoryPage = 1000

// HistoryAfter reads instance id's history rows after seq (0: from the
// first), oldest first, at most HistoryPage per call.
func (e *Engine) HistoryAfter(ctx context.Context, id string, seq int64) ([]Event, error) {
	hs, err := e.st.HistoryAfter(ctx, id, seq, HistoryPage)
	if err != nil {
		return nil, fmt.Errorf("history of %q: %w", id, err)
	}
	out := make([]Event, len(hs))
	for i, h := range hs {
		out[i] = Event{Seq: h.Seq, At: h.At, Kind: h.Kind, Thread: h.Thread, Step: h.Step, Detail: h.Detail}
	}
	return out, nil
}

// QueueServed reports whether a worker that would take tasks of queue for
// an instance of root's tree polled for tasks within the last within. A
// worker records a poll at most every 5 seconds, so within should be
// longer than that plus the workers' poll interval.
func (e *Engine) QueueServed(ctx context.Context, queue, root string, within time.Duration) (bool, error) {
	ws, err := e.st.RecentWorkers(ctx, e.now().Add(-within))
	if err != nil {
		return false, err
	}
	for _, w := range ws {
		if w.Serves(queue, root) {
			return true, nil
		}
	}
	return false, nil
}

// RunDue handles every task due at the engine's clock in the calling
// goroutine, one at a time, until none is due or max were handled (0: no
// bound), and returns how many it handled. With a Config.Clock that the
// caller moves to NextDue between calls, it runs instances deterministically
// on virtual time: the flow tester (package flowtest) works this way. Do not
// mix it with Run on the same app.
func (e *Engine) RunDue(ctx context.Context, max int) (int, error) { return e.rt.RunDue(ctx, max) }

// NextDue tells when the soonest pending task of the app becomes due (its
// due time, or the end of its lease); false when none is pending.
func (e *Engine) NextDue(ctx context.Context) (time.Time, bool, error) { return e.rt.NextDue(ctx) }
