package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memflow/memflow/activities"
	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/internal/metrics"
	"github.com/memflow/memflow/internal/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
)

// Config configures an Engine.
type Config struct {
	Store      store.Store          // required
	Activities *activities.Registry // required
	Logger     *slog.Logger         // default: discard
	Clock      func() time.Time     // default: time.Now
	Limits     Limits               // zero fields: the defaults (limits.go)
	// Metrics, when set, receives the engine's Prometheus metrics
	// (docs/operations.md); nil records none.
	Metrics prometheus.Registerer
	// TracerProvider makes the engine's OpenTelemetry spans (trace.go);
	// nil: the global provider (otel.GetTracerProvider), a no-op unless set.
	TracerProvider trace.TracerProvider
	// App is the app id recorded on spans (memflow.app).
	App string
}

// Engine runs compiled programs on a store. It is safe for concurrent use.
type Engine struct {
	st   store.Store
	acts *activities.Registry
	log  *slog.Logger
	now  func() time.Time
	lim  Limits

	res    *resolver        // which program runs (resolve.go)
	met    *metrics.Metrics // nil: no metrics
	tr     trace.Tracer     // spans (trace.go)
	app    string           // app id, for spans
	swapMu sync.Mutex       // serialises SwapCatalogue (catalogue.go)

	running *inflight
	ends    endHub
	commits commitHub    // WatchCommits
	loc     locals       // this engine's Work loops, for local hand-off (handoff.go)
	workers atomic.Int32 // Work loops running
	// lastSweep is when a worker of this engine last deleted expired rows
	// (unix nanoseconds; pending.go).
	lastSweep atomic.Int64
}

// program is a compiled Program with its schemas compiled once.
type program struct {
	*compiler.Program
	inputs map[string]*jsonschema.Schema // "" workflow, else hook name
	entity *jsonschema.Schema
	descs  map[*compiler.State]string // what each state does, for history rows
}

// ErrEnded matches the error of a hook, signal or cancel sent to an
// instance that has already ended.
var ErrEnded = errors.New("instance ended")

// endedError says what could not be done to an ended instance; it
// matches ErrEnded.
type endedError struct{ msg string }

func (e *endedError) Error() string        { return e.msg }
func (e *endedError) Is(target error) bool { return target == ErrEnded }

// ErrNotFound is returned for an unknown workflow id or flow.
var ErrNotFound = store.ErrNotFound

// ErrInvalidInput marks start or hook arguments that do not match the input
// schema.
var ErrInvalidInput = errors.New("invalid input")

// ErrIDTaken marks a start whose workflow id belongs to an instance of
// another workflow; an *IDTakenError matches it.
var ErrIDTaken = errors.New("workflow id taken")

// IDTakenError is a start (or child step) naming an id that an instance of
// another workflow holds. errors.Is(err, ErrIDTaken) holds.
type IDTakenError struct {
	ID       string // the requested workflow id
	Workflow string // the workflow of the instance holding it
}

func (e *IDTakenError) Error() string {
	return fmt.Sprintf("workflow id %q is taken by an instance of %q", e.ID, e.Workflow)
}

// Is makes errors.Is(err, ErrIDTaken) hold.
func (e *IDTakenError) Is(target error) bool { return target == ErrIDTaken }

// New returns an engine over cfg.Store.
func New(cfg Config) (*Engine, error) {
	if cfg.Store == nil {
		return nil, errors.New("runtime config: Store is required")
	}
	if cfg.Activities == nil {
		return nil, errors.New("runtime config: Activities is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if err := cfg.Limits.defaults(); err != nil {
		return nil, err
	}
	var met *metrics.Metrics
	if cfg.Metrics != nil {
		st, clock := cfg.Store, cfg.Clock
		var err error
		if met, err = metrics.New(cfg.Metrics, func(ctx context.Context) (map[string]int, error) {
			return st.ReadyTasks(ctx, clock())
		}, readyEvery); err != nil {
			return nil, fmt.Errorf("runtime config: metrics: %w", err)
		}
	}
	if cfg.TracerProvider == nil {
		cfg.TracerProvider = otel.GetTracerProvider()
	}
	return &Engine{st: cfg.Store, acts: cfg.Activities, log: cfg.Logger, now: cfg.Clock, lim: cfg.Limits,
		res: newResolver(cfg.Store), running: newInflight(), met: met,
		tr: cfg.TracerProvider.Tracer(tracerName), app: cfg.App}, nil
}

// readyEvery is how often the memflow_tasks_ready gauge reads the store at
// most, however often Prometheus scrapes.
const readyEvery = 5 * time.Second

// Metrics are the engine's metrics (nil when off; every method is nil-safe).
func (e *Engine) Metrics() *metrics.Metrics { return e.met }

// Store is the engine's store.
func (e *Engine) Store() store.Store { return e.st }

func newProgram(p *compiler.Program) (*program, error) {
	pr := &program{Program: p, inputs: map[string]*jsonschema.Schema{}, descs: map[*compiler.State]string{}}
	if p.Workflow == nil {
		return nil, fmt.Errorf("program %s: no workflow graph", p.Name)
	}
	describe := func(g *compiler.Graph) {
		for _, s := range g.States {
			pr.descs[s] = s.Describe()
		}
	}
	describe(p.Workflow)
	for _, g := range p.Hooks {
		describe(g)
	}
	var err error
	if pr.inputs[""], err = compileSchema(p.Name+"-input", p.Workflow.Input); err != nil {
		return nil, err
	}
	for name, g := range p.Hooks {
		if pr.inputs[name], err = compileSchema(name+"-input", g.Input); err != nil {
			return nil, err
		}
	}
	if pr.entity, err = compileSchema(p.Entity+"-entity", p.EntitySchema); err != nil {
		return nil, err
	}
	return pr, nil
}

// Install makes p the newest version of its workflow for starts through this
// engine, stores the version in the database (so any worker can resume its
// instances) and creates the entity type's declared indexes.
func (e *Engine) Install(ctx context.Context, p *compiler.Program) error {
	pr, err := newProgram(p)
	if err != nil {
		return err
	}
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("install %s: encode program: %w", p.Name, err)
	}
	if err := e.st.SaveFlowVersion(ctx, store.FlowVersion{Name: p.Name, Version: p.Version, Program: b,
		File: p.File, CreatedAt: e.now()}); err != nil {
		return fmt.Errorf("install %s: %w", p.Name, err)
	}
	for _, f := range p.Indexes {
		if err := e.st.CreateIndex(ctx, p.Entity, f); err != nil {
			return fmt.Errorf("install %s: index %s.%s: %w", p.Name, p.Entity, f, err)
		}
	}
	for _, f := range p.ArrayIndexes {
		if err := e.st.CreateArrayIndex(ctx, p.Entity, f); err != nil {
			return fmt.Errorf("install %s: array index %s.%s: %w", p.Name, p.Entity, f, err)
		}
	}
	e.res.install(pr)
	return nil
}

// Loaded lists the workflows installed in this engine.
func (e *Engine) Loaded() []*compiler.Program { return e.res.loaded() }

// StartParams names a new instance.
type StartParams struct {
	Workflow string
	ID       string // "" generates one
	Args     any
	// TaskQueue, when set, is the instance's task queue instead of the
	// workflow's (its workers must serve it).
	TaskQueue string
	// Expire, when positive, deletes the instance's rows (with its tasks
	// and history) this long after it ends; 0 keeps them.
	Expire time.Duration
	// Entity, when set, is the initial entity document (a JSON object),
	// validated against the entity type's schema; nil starts from {}.
	Entity any
}

// jobOpts are the start options newJob applies.
type jobOpts struct {
	queue    string
	expireMS int64
	entity   json.RawMessage
	// trace and traceState are the W3C trace context of the instance's
	// root span ("": untraced).
	trace, traceState string
}

// Start creates an instance of the newest version of p.Workflow, validating
// the arguments first (nothing is written on a mismatch). Starting an id that
// an instance of the same workflow holds returns it with created false and
// changes nothing (idempotent start); an id held by another workflow's
// instance is an *IDTakenError.
func (e *Engine) Start(ctx context.Context, p StartParams) (id string, created bool, err error) {
	return e.startWith(ctx, p, nil)
}

// startSignal is a signal delivered in the transaction that creates an
// instance (SignalWithStart).
type startSignal struct {
	name string
	data any
}

func (e *Engine) startWith(ctx context.Context, p StartParams, sig *startSignal) (id string, created bool, err error) {
	if p.ID == "" {
		// Chosen before the first try, so that a start whose commit outcome
		// is unknown can be looked up and tried again under the same id.
		p.ID = newID()
	}
	ctx, span := e.startSpan(ctx, p.Workflow, p.ID)
	defer func() { endStart(span, created, err) }()
	began := time.Now()
	var down time.Time
	for {
		err = e.res.retryStale(func() (err error) {
			id, created, err = e.start(ctx, p, sig)
			return err
		})
		if !store.IsTransient(err) {
			return id, created, err
		}
		// The database failed, maybe after the commit landed: find out by
		// id before reporting, and start again only when nothing was written.
		if down.IsZero() {
			down = time.Now()
		}
		if found, lerr := e.startedAs(ctx, p, err, began, down); found || lerr != nil {
			if lerr != nil {
				return "", false, lerr
			}
			return p.ID, true, nil
		}
		if time.Since(began) >= e.lim.DBTimeout || ctx.Err() != nil {
			return "", false, err // nothing was written
		}
		e.met.StoreRetry()
		pause(ctx, outageDelay(time.Since(down)))
	}
}

// startedAs reads p.ID after a start that failed with the database error
// cause, maybe after its commit landed: found when an instance of
// p.Workflow holds the id; an error when another workflow's does, or when
// the store cannot tell within the database timeout (StartUncertainError).
// Neither means nothing was written.
func (e *Engine) startedAs(ctx context.Context, p StartParams, cause error, began, down time.Time) (bool, error) {
	for {
		job, err := e.st.GetJob(ctx, p.ID)
		switch {
		case err == nil && job.Flow == p.Workflow:
			return true, nil
		case err == nil:
			return false, fmt.Errorf("start %s: %w", p.Workflow, &IDTakenError{ID: p.ID, Workflow: job.Flow})
		case errors.Is(err, store.ErrNotFound):
			return false, nil
		case time.Since(began) >= e.lim.DBTimeout || ctx.Err() != nil:
			return false, &StartUncertainError{ID: p.ID, Workflow: p.Workflow, Err: cause}
		}
		pause(ctx, outageDelay(time.Since(down)))
	}
}

// StartUncertainError is a start whose commit may or may not have landed:
// the database failed while committing and could not be asked afterwards.
// The instance may exist under ID; look it up (or start again with the same
// ID, which is idempotent) rather than starting without an id.
type StartUncertainError struct {
	ID       string
	Workflow string
	Err      error // the database error
}

func (e *StartUncertainError) Error() string {
	return fmt.Sprintf("start %s: instance %q may have started (the database failed before confirming it; check with get %s, or start again with this id): %v",
		e.Workflow, e.ID, e.ID, e.Err)
}

func (e *StartUncertainError) Unwrap() error { return e.Err }

func (e *Engine) start(ctx context.Context, p StartParams, sig *startSignal) (id string, created bool, err error) {
	began := time.Now()
	prog, err := e.res.forStart(ctx, p.Workflow)
	if err != nil {
		return "", false, err
	}
	args, raw, err := e.checkInput(prog, "", p.Args)
	if err != nil {
		return "", false, fmt.Errorf("start %s: %w", p.Workflow, err)
	}
	id = p.ID
	if id == "" {
		id = newID()
	}
	if err := CheckID(id); err != nil {
		return "", false, fmt.Errorf("start %s: %w", p.Workflow, err)
	}
	opts, err := e.startOpts(prog, p)
	if err != nil {
		return "", false, fmt.Errorf("start %s: %w", p.Workflow, err)
	}
	opts.trace, opts.traceState = traceparent(trace.SpanContextFromContext(ctx))
	children, err := e.res.children(ctx, prog)
	if err != nil {
		return "", false, fmt.Errorf("start %s: %w", p.Workflow, err)
	}
	// The first steps run in the start transaction, up to the first one that
	// waits (an activity, a signal, a timer...): one commit instead of a
	// commit, a claim and a second commit through the queue. They run in
	// memory first; the instance is then inserted as they left it.
	var ended *store.Job
	var committed *store.Job
	var spawned []string // workflows of the children the first steps started
	var done *txn        // the transition committed, for its span
	out := &outbox{l: &e.loc}
	pe := newPeers()
	err = rerun(func() error {
		return e.st.InTx(ctx, func(tx store.Tx) error {
			ended, created, committed, spawned, done = nil, false, nil, nil, nil
			out.reset()
			if err := e.res.confirm(ctx, tx, prog); err != nil {
				return err
			}
			x, err := e.newRun(ctx, tx, prog, id, args, raw, children, opts)
			if err != nil {
				return err
			}
			x.out, x.peers = out, pe
			// Signals sent to this id before it existed come first, in the
			// order they were sent.
			var kept keptSignals
			scratch := newInstance(x.now)
			if kept.events, err = takePending(ctx, tx, id, scratch, x.now); err != nil {
				return err
			}
			kept.signals = scratch.Signals
			x, err = interpret(x, func() (*txn, error) {
				return e.newRun(ctx, tx, prog, id, args, raw, children, opts)
			}, x.readPeers, func(x *txn) error {
				kept.give(x)
				if sig != nil {
					x.deliverSignal(sig.name, sig.data)
				}
				x.runAll()
				x.drain()
				return nil
			})
			if err != nil {
				return err
			}
			if x.ended {
				ended = x.job
			}
			if err := x.save(); err != nil {
				return err
			}
			created, committed, spawned, done = true, x.job, x.spawned, x
			return nil
		})
	})
	if err != nil {
		out.release()
	} else {
		out.deliver(committed)
	}
	if errors.Is(err, errExists) || errors.Is(err, store.ErrExists) {
		// Idempotent start: what the steps wrote is rolled back.
		job, err := e.st.GetJob(ctx, id)
		if err != nil {
			return "", false, fmt.Errorf("start %s %q: %w", p.Workflow, id, err)
		}
		if job.Flow != p.Workflow {
			return "", false, fmt.Errorf("start %s: %w", p.Workflow, &IDTakenError{ID: id, Workflow: job.Flow})
		}
		return id, false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("start %s %q: %w", p.Workflow, id, err)
	}
	if created {
		e.met.Started(p.Workflow)
		e.committed(committed, spawned, began)
	}
	if ended != nil {
		e.ended(ended)
	} else if created {
		e.ends.startedHere(id)
	}
	if created {
		e.traceTransition(done, "start", began, trace.SpanContext{})
	}
	return id, created, nil
}

// checkInput normalises arguments and validates them against the graph's
// input schema.
func (e *Engine) checkInput(p *program, graph string, args any) (any, []byte, error) {
	if r, ok := args.(json.RawMessage); ok {
		v, err := decodeValue(r)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: arguments are not JSON: %v", ErrInvalidInput, err)
		}
		args = v
	}
	v, raw, err := jsonify(args)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: arguments: %v", ErrInvalidInput, err)
	}
	if s := p.inputs[graph]; s != nil {
		if err := s.Validate(v); err != nil {
			return nil, nil, fmt.Errorf("%w: %s", ErrInvalidInput, schemaProblems("input", err))
		}
	}
	return v, raw, nil
}

func queueOf(p *program) string {
	switch {
	case p.Workflow.TaskQueue != "":
		return p.Workflow.TaskQueue
	case p.TaskQueue != "":
		return p.TaskQueue
	}
	return "default"
}

// treePos places a new instance in its tree of instances: under root
// (itself when empty), started by parent ("" for a top-level start), depth
// levels below root.
type treePos struct {
	root, parent string
	depth        int
}

// insertJob writes a new instance, its first task and timeout timer.
func (e *Engine) insertJob(ctx context.Context, tx store.Tx, p *program, id string, args any, raw []byte, parent *parentLink, pos treePos, o jobOpts) (bool, error) {
	return e.writeJob(ctx, tx, p, id, args, raw, parent, pos, o, true)
}

// writeJob writes a new instance and its timeout timer, and with run the
// task that runs its first steps (without, the caller runs them in tx).
func (e *Engine) writeJob(ctx context.Context, tx store.Tx, p *program, id string, args any, raw []byte, parent *parentLink, pos treePos, o jobOpts, run bool) (bool, error) {
	job, in, tasks, started := e.newJob(p, id, args, raw, parent, pos, o)
	kept, err := takePending(ctx, tx, id, in, job.CreatedAt)
	if err != nil {
		return false, err
	}
	state, err := json.Marshal(in)
	if err != nil {
		return false, err
	}
	job.State = state
	created, err := tx.InsertJob(ctx, *job)
	if err != nil || !created {
		return created, err
	}
	if run {
		tasks = append(tasks, store.Task{JobID: id, Queue: job.TaskQueue, Kind: taskRun, Payload: json.RawMessage("{}")})
	}
	if len(tasks) > 0 {
		if err := tx.EnqueueTasks(ctx, tasks); err != nil {
			return false, err
		}
	}
	return true, tx.AppendHistory(ctx, append([]store.HistoryEvent{started}, kept...))
}

// newJob makes a new instance of p: its row (State left to the caller), its
// cursor, its timeout timer and its "started" history event.
func (e *Engine) newJob(p *program, id string, args any, raw []byte, parent *parentLink, pos treePos, o jobOpts) (*store.Job, *instance, []store.Task, store.HistoryEvent) {
	now := e.now()
	in := newInstance(now)
	in.Parent = parent
	in.ExpireMS = o.expireMS
	in.Trace, in.TraceState = o.trace, o.traceState
	in.newThread(threadMain, "", p.Workflow.Entry, args)
	q := queueOf(p)
	if o.queue != "" {
		q = o.queue
	}
	doc := json.RawMessage("{}")
	if o.entity != nil {
		doc = o.entity
	}
	job := &store.Job{ID: id, Entity: p.Entity, Context: doc, Status: store.StatusRunning,
		Flow: p.Name, Version: p.Version, TaskQueue: q, Input: raw, CreatedAt: now, UpdatedAt: now,
		Root: pos.root, Parent: pos.parent, Depth: pos.depth}
	if job.Root == "" {
		job.Root = id
	}
	var tasks []store.Task
	if p.Workflow.TimeoutMS > 0 {
		tasks = append(tasks, timerTask(id, q, payload{Timer: timerWorkflow},
			now.Add(time.Duration(p.Workflow.TimeoutMS)*time.Millisecond)))
	}
	started := store.HistoryEvent{JobID: id, At: now, Kind: "started",
		Detail: mustJSON(map[string]any{"workflow": p.Name, "version": p.Version, "input": args}),
		Patch:  wholePatch(doc)}
	return job, in, tasks, started
}

// newRun is a transition of an instance not yet written: its commit inserts
// it (or fails with errExists when the id is taken).
func (e *Engine) newRun(ctx context.Context, tx store.Tx, p *program, id string, args any, raw []byte, children childSet, o jobOpts) (*txn, error) {
	job, in, tasks, started := e.newJob(p, id, args, raw, nil, treePos{}, o)
	ent, err := decodeValue(job.Context)
	if err != nil {
		return nil, err
	}
	return &txn{e: e, binding: binding{ctx: ctx, tx: tx}, job: job, prog: p, in: in, children: children, fresh: true,
		entity: ent, entityJSON: job.Context, tasks: tasks, events: []store.HistoryEvent{started},
		budget: maxStepsPerTx, now: job.CreatedAt}, nil
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"unencodable": err.Error()})
	}
	return b
}

// Signal sends a signal to instance id. It is delivered in the call's own
// transaction, which locks the instance: to the oldest thread waiting for
// that name (the thread then runs on a worker), or kept in the instance for
// the first later wait of that name. Signals to one instance are thus
// delivered in the order their calls commit, and need no worker to be kept.
func (e *Engine) Signal(ctx context.Context, id, name string, data any) error {
	val, raw, err := jsonify(data)
	if err != nil {
		return fmt.Errorf("signal %s to %q: data: %w", name, id, err)
	}
	if name == "" {
		return fmt.Errorf("signal to %q: empty name", id)
	}
	for try := 0; ; try++ {
		err := e.deliver(ctx, id, "signal "+name+" to", nil, func(x *txn) error {
			x.deliverSignal(name, val)
			return nil
		})
		if !errors.Is(err, errNoInstance) || try == 2 {
			return err
		}
		// No instance holds id yet: keep the signal for one that starts
		// within Limits.PendingSignalTTL, unless one was created meanwhile.
		kept, err := e.signalAbsent(ctx, id, name, raw)
		if err != nil {
			return fmt.Errorf("signal %s to %q: %w", name, id, err)
		}
		if kept {
			return nil
		}
	}
}

// errNoInstance marks a deliver to an id no instance holds.
var errNoInstance = fmt.Errorf("no such workflow: %w", ErrNotFound)

// SignalWithStart delivers a signal to instance p.ID, starting it first
// when no instance holds that id: the start and the delivery then commit
// together, so the instance's first wait for name receives data (after any
// signals sent to the id before it existed). When an instance of
// p.Workflow already holds the id, the signal is delivered to it as Signal
// does (created is false); another workflow's instance is an
// *IDTakenError. p.ID is required.
func (e *Engine) SignalWithStart(ctx context.Context, p StartParams, name string, data any) (id string, created bool, err error) {
	if p.ID == "" {
		return "", false, fmt.Errorf("signal %s with start of %s: the workflow id is required", name, p.Workflow)
	}
	if name == "" {
		return "", false, fmt.Errorf("signal with start of %s %q: empty signal name", p.Workflow, p.ID)
	}
	_, raw, err := jsonify(data)
	if err != nil {
		return "", false, fmt.Errorf("signal %s to %q: data: %w", name, p.ID, err)
	}
	val, err := decodeValue(raw)
	if err != nil {
		return "", false, fmt.Errorf("signal %s to %q: data: %w", name, p.ID, err)
	}
	id, created, err = e.startWith(ctx, p, &startSignal{name: name, data: val})
	if err != nil || created {
		return id, created, err
	}
	return id, false, e.Signal(ctx, id, name, val)
}

// Hook starts hook on instance id with args (fire and forget). The hook's
// thread is created in the call's own transaction, so once Hook returns
// the instance waits for the hook to end before it completes; its steps
// run on a worker.
func (e *Engine) Hook(ctx context.Context, id, hook string, args any) error {
	return e.deliver(ctx, id, "hook "+hook+" on", func(p *program) error {
		if p.Hooks[hook] == nil {
			return fmt.Errorf("no such hook in workflow %s: %w", p.Name, ErrNotFound)
		}
		v, _, err := e.checkInput(p, hook, args)
		args = v
		return err
	}, func(x *txn) error {
		_, err := x.spawnHook(hook, args, nil, -1)
		return err
	})
}

// deliver applies fn to running instance id in a transaction of its own
// and commits it, queueing a run task when fn made threads runnable (a
// worker runs their steps). check, when set, vets the instance's program
// before the transaction. A database error is retried on a fresh connection
// while ctx allows.
func (e *Engine) deliver(ctx context.Context, id, what string, check func(*program) error, fn func(x *txn) error) error {
	job, err := e.st.GetJob(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%s %q: %w", what, id, errNoInstance)
	}
	if err != nil {
		return fmt.Errorf("%s %q: %w", what, id, err)
	}
	if job.Status != store.StatusRunning {
		return &endedError{fmt.Sprintf("%s %q: workflow is %s", what, id, job.Status)}
	}
	p, err := e.res.pinned(ctx, job.Flow, job.Version)
	if err != nil {
		return fmt.Errorf("%s %q: %w", what, id, err)
	}
	if check != nil {
		if err := check(p); err != nil {
			return fmt.Errorf("%s %q: %w", what, id, err)
		}
	}
	var status string
	var committed *store.Job
	var done *txn // the transition committed, for its span
	began := time.Now()
	out := &outbox{l: &e.loc}
	err = e.st.InTx(ctx, func(tx store.Tx) error {
		status, committed, done = "", nil, nil
		out.reset()
		x, err := e.begin(ctx, tx, p, id, nil)
		if err != nil {
			return err
		}
		if x != nil {
			x.out = out
		}
		if x == nil {
			job, err := tx.GetJob(ctx, id, false)
			if err != nil {
				return err
			}
			status = job.Status
			return nil
		}
		if err := fn(x); err != nil {
			return err
		}
		if len(x.runnable) > 0 {
			x.task(taskRun, payload{}, time.Time{})
		}
		committed, done = x.job, x
		return x.save()
	})
	if err != nil {
		out.release()
		return fmt.Errorf("%s %q: %w", what, id, err)
	}
	out.deliver(committed)
	if done != nil {
		kind, _, _ := strings.Cut(what, " ") // signal or hook
		e.traceTransition(done, kind, began, trace.SpanContextFromContext(ctx))
	}
	if committed != nil {
		e.commits.committed(committed.ID)
	}
	if status != "" {
		return &endedError{fmt.Sprintf("%s %q: workflow is %s", what, id, status)}
	}
	return nil
}

// Cancel ends instance id with status cancelled, its hooks with it, and
// cancels its running children. Cancelling an ended instance is an error
// unless it was already cancelled; CancelTree reaches the instances it
// started all the same.
func (e *Engine) Cancel(ctx context.Context, id string) error {
	job, err := e.st.GetJob(ctx, id)
	if err != nil {
		return fmt.Errorf("cancel %q: %w", id, err)
	}
	status, err := e.cancelJob(ctx, job, "cancelled")
	if err != nil {
		return fmt.Errorf("cancel %q: %w", id, err)
	}
	if status != store.StatusCancelled {
		return &endedError{fmt.Sprintf("cancel %q: workflow already %s", id, status)}
	}
	return nil
}

// cancelJob ends job as cancelled (reason: its error message) if it still
// runs, and stops its activities running in this process. It returns the
// job's status afterwards: cancelled, or how it ended before.
func (e *Engine) cancelJob(ctx context.Context, job *store.Job, reason string) (string, error) {
	p, err := e.res.pinned(ctx, job.Flow, job.Version)
	if err != nil {
		return "", err
	}
	var ended *store.Job
	var done *txn // the transition committed, for its span
	began := time.Now()
	err = e.st.InTx(ctx, func(tx store.Tx) error {
		ended, done = nil, nil
		x, err := e.begin(ctx, tx, p, job.ID, nil)
		if err != nil || x == nil {
			return err
		}
		x.cancel(reason)
		ended, done = x.job, x
		return x.save()
	})
	if err != nil {
		return "", err
	}
	if ended != nil {
		e.ended(ended)
		e.traceTransition(done, "cancel", began, trace.SpanContextFromContext(ctx))
	}
	e.running.cancelJob(job.ID)
	if ended != nil {
		return ended.Status, nil
	}
	j, err := e.st.GetJob(ctx, job.ID)
	if err != nil {
		return "", err
	}
	return j.Status, nil
}
