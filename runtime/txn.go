package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/internal/store"
)

// Task kinds.
const (
	taskRun      = "run"      // run the runnable threads (start, yield)
	taskActivity = "activity" // run an activity, then commit its result
	taskTimer    = "timer"    // sleep end, wait timeout, workflow or hook timeout
	taskSignal   = "signal"   // deliver a signal
	taskHook     = "hook"     // start a hook from outside
	taskChild    = "child"    // a child workflow ended
	taskCancel   = "cancel"   // cancel this instance (a parent ended)
)

// Timer kinds.
const (
	timerSleep    = "sleep"
	timerWait     = "wait"
	timerWorkflow = "workflow"
	timerHook     = "hook"
)

// payload is every task kind's payload; each uses some fields.
type payload struct {
	Thread    string          `json:"thread,omitempty"`
	Tick      int64           `json:"tick,omitempty"`
	Args      json.RawMessage `json:"args,omitempty"`
	Attempt   int             `json:"attempt,omitempty"` // activity attempts made by earlier task rows
	TimeoutMS int64           `json:"timeoutMs,omitempty"`
	Timer     string          `json:"timer,omitempty"`
	Name      string          `json:"name,omitempty"` // signal or hook name
	Data      json.RawMessage `json:"data,omitempty"` // signal data, hook args
	Child     string          `json:"child,omitempty"`
	Status    string          `json:"status,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     string          `json:"error,omitempty"`
	// Seq orders the signal tasks one transition sends to one instance.
	Seq int `json:"seq,omitempty"`
	// Since is when a sleep began (unix nanoseconds), for its output.
	Since int64 `json:"since,omitempty"`
}

func timerTask(jobID, queue string, p payload, due time.Time) store.Task {
	return store.Task{JobID: jobID, Queue: queue, Kind: taskTimer, Payload: mustJSON(p), DueAt: due}
}

// maxStepsPerTx bounds the steps one transaction runs before it yields.
const maxStepsPerTx = 1000

// txn is one transition of one instance: everything it changes is written by
// commit in the surrounding transaction.
type txn struct {
	e *Engine
	binding
	job      *store.Job
	prog     *program
	in       *instance
	children childSet // preloaded programs of child workflows

	entity     any
	entityJSON []byte
	tasks      []store.Task
	events     []store.HistoryEvent
	runnable   []string
	budget     int
	ended      bool
	now        time.Time
	fresh      bool // the instance is not written yet: commit inserts it
	sigSeq     int  // signal tasks this transition sent to other instances
	// did is what the command step being completed did, its templated
	// paths rendered (history detail "did"); complete takes it.
	did string
	// spawned are the workflows of the children this transition started
	// (for metrics once it commits).
	spawned []string

	// Other instances (peers.go): the ids steps still need to know (their
	// threads parked), and what the transition does to them at commit.
	needs   []string
	parked  bool // the step just run needs an id: its thread stops here
	keeps   []store.PendingSignal
	spawns  []spawn
	watches []watch
}

// binding is the committer's side of a transition: the transaction it
// runs in and what the committer keeps for it. Every pass of the
// interpreter over one event (interpret) shares it whole.
type binding struct {
	ctx      context.Context
	tx       store.Tx
	out      *outbox // tasks handed to this engine's workers (nil: none)
	peers    *peers  // what is known of other instances (peers.go)
	unlocked bool    // read without a lock: commit checks its revision (beginFrom)
}

// errParked is what a step returns after need: the step neither fails nor
// completes, its thread waits for the committer to read another instance.
var errParked = errors.New("the step needs another instance read")

// begin locks job id and decodes its state. It returns nil (and no error)
// when the instance is no longer running.
func (e *Engine) begin(ctx context.Context, tx store.Tx, p *program, id string, children childSet) (*txn, error) {
	job, err := tx.GetJob(ctx, id, true)
	if err != nil {
		return nil, err
	}
	if job.Status != store.StatusRunning {
		return nil, nil
	}
	if job.Flow != p.Name || job.Version != p.Version {
		return nil, fmt.Errorf("instance %q runs %s@%s, not %s@%s", id, job.Flow, job.Version, p.Name, p.Version)
	}
	x, err := e.resume(p, job, children)
	if err != nil {
		return nil, err
	}
	x.ctx, x.tx = ctx, tx
	return x, nil
}

// beginFrom is begin on snap, the instance as read without a lock: nothing
// is read, and the commit writes only if the instance is still at snap's
// revision. It returns nil when snap is not running.
func (e *Engine) beginFrom(ctx context.Context, tx store.Tx, p *program, snap *store.Job, children childSet) (*txn, error) {
	if snap.Status != store.StatusRunning {
		return nil, nil
	}
	if snap.Flow != p.Name || snap.Version != p.Version {
		return nil, fmt.Errorf("instance %q runs %s@%s, not %s@%s", snap.ID, snap.Flow, snap.Version, p.Name, p.Version)
	}
	job := *snap
	x, err := e.resume(p, &job, children)
	if err != nil {
		return nil, err
	}
	x.ctx, x.tx, x.unlocked = ctx, tx, true
	return x, nil
}

// resume decodes a stored instance into a transition in memory, touching
// no database: the interpreter's half of begin.
func (e *Engine) resume(p *program, job *store.Job, children childSet) (*txn, error) {
	in, err := decodeInstance(job.State)
	if err != nil {
		return nil, fmt.Errorf("instance %q: %w", job.ID, err)
	}
	ent, err := decodeValue(job.Context)
	if err != nil {
		return nil, fmt.Errorf("instance %q: decode entity: %w", job.ID, err)
	}
	ej := []byte(job.Context)
	if len(ej) == 0 {
		ej = []byte("null")
	}
	return &txn{e: e, job: job, prog: p, in: in, children: children,
		entity: ent, entityJSON: ej, budget: maxStepsPerTx, now: e.now()}, nil
}

// commit writes the instance, its new tasks and history.
func (x *txn) commit() error {
	if err := x.seal(); err != nil {
		return err
	}
	if err := x.effects(); err != nil {
		return err
	}
	if len(x.tasks) > 0 {
		x.out.lease(x.tasks, x.now, x.job)
	}
	// The instance, its tasks and history: one statement on Postgres.
	err := x.tx.WriteTransition(x.ctx, store.Transition{Job: x.job, Insert: x.fresh,
		DropTasks: x.ended && !x.fresh, Unlocked: x.unlocked, Tasks: x.tasks, History: x.events})
	if x.fresh && errors.Is(err, store.ErrExists) {
		return errExists
	}
	return err
}

// seal writes the instance's new state and entity into x.job and drops the
// tasks an ended instance made for itself: what the transition leaves
// behind, before anything goes to the database.
func (x *txn) seal() error {
	x.checkHistory()
	if x.ended {
		kept := x.tasks[:0]
		for _, t := range x.tasks {
			if t.JobID != x.job.ID {
				kept = append(kept, t)
			}
		}
		x.tasks = kept
	}
	x.in.Events += len(x.events)
	state, err := json.Marshal(x.in)
	if err != nil {
		return fmt.Errorf("encode instance state: %w", err)
	}
	x.job.State = state
	x.job.Context = x.entityJSON
	return nil
}

// ended tells those waiting for results, and the metrics, that job ended.
func (e *Engine) ended(job *store.Job) {
	e.met.Ended(job.Flow, job.Status)
	e.ends.ended(job)
}

func (x *txn) graph(t *thread) *compiler.Graph {
	if t.Graph == "" {
		return x.prog.Workflow
	}
	return x.prog.Hooks[t.Graph]
}

func (x *txn) state(t *thread) *compiler.State {
	g := x.graph(t)
	if g == nil || t.State < 0 || t.State >= len(g.States) {
		return nil
	}
	return g.States[t.State]
}

func (x *txn) env(t *thread) *compiler.Env {
	return &compiler.Env{Input: t.Input, Entity: x.entity, Steps: t.Steps, Vars: t.Vars, Now: x.e.now,
		Workflow: compiler.WorkflowInfo{ID: x.job.ID, Name: x.job.Flow, Entity: x.job.Entity,
			TaskQueue: x.job.TaskQueue, StartedAt: x.in.StartedAt}}
}

// task enqueues a task of this instance: on the queue of the thread it
// names (queueFor), else on the instance's queue.
func (x *txn) task(kind string, p payload, due time.Time) {
	q := x.job.TaskQueue
	if t := x.in.Threads[p.Thread]; p.Thread != "" && t != nil {
		q = x.queueFor(t)
	}
	x.tasks = append(x.tasks, store.Task{JobID: x.job.ID, Queue: q, Kind: kind,
		Payload: mustJSON(p), DueAt: due})
}

// queueFor is the task queue of t's tasks: its hook's taskQueue when it runs
// a hook graph that names one (hook threads and their branches), else the
// instance's.
func (x *txn) queueFor(t *thread) string {
	if t.Graph != "" {
		if g := x.graph(t); g != nil && g.TaskQueue != "" {
			return g.TaskQueue
		}
	}
	return x.job.TaskQueue
}

// maxEventDetail bounds one history row's detail; a larger one keeps its
// size only (the value itself is in the entity or the step outputs).
const maxEventDetail = 64 << 10

func (x *txn) event(kind string, t *thread, s *compiler.State, detail any) {
	d := mustJSON(x.placed(t, s, detail))
	if len(d) > maxEventDetail {
		d = mustJSON(map[string]any{"truncated": true, "bytes": len(d)})
	}
	ev := store.HistoryEvent{JobID: x.job.ID, At: x.now, Kind: kind, Detail: d}
	if t != nil && t.Kind != threadMain {
		ev.Thread = t.ID
	}
	if s != nil {
		ev.Step, ev.State = s.Label, s.N
	} else {
		ev.State = compiler.End
	}
	x.events = append(x.events, ev)
}

// wake marks t runnable.
func (x *txn) wake(t *thread) {
	t.Wait, t.Signal = "", ""
	x.runnable = append(x.runnable, t.ID)
}

// goTo moves t to state n.
func (x *txn) goTo(t *thread, n int) {
	t.State = n
	t.Tick++
	if n != compiler.End {
		t.Visits[n]++
	}
}

// runAll queues every runnable thread, oldest first.
func (x *txn) runAll() {
	for _, t := range x.in.threadsByNum() {
		if t.Wait == "" {
			x.runnable = append(x.runnable, t.ID)
		}
	}
}

// checkHistory fails the instance once it has written more history rows
// than Limits.MaxHistory allows; it reports whether it did.
func (x *txn) checkHistory() bool {
	if x.ended || x.in.Events+len(x.events) <= x.e.lim.MaxHistory {
		return false
	}
	x.endWorkflow(store.StatusFailed, nil, &stepError{Type: "LimitExceeded", Step: x.runningStep(),
		Message: fmt.Sprintf("workflow %s wrote %d history rows, more than the limit of %d (Limits.MaxHistory)",
			x.job.Flow, x.in.Events+len(x.events), x.e.lim.MaxHistory)})
	return true
}

// drain runs runnable threads until each blocks or ends.
func (x *txn) drain() {
	for len(x.runnable) > 0 && !x.ended && !x.checkHistory() {
		id := x.runnable[0]
		x.runnable = x.runnable[1:]
		t := x.in.Threads[id]
		for t != nil && t.Wait == "" && !x.ended && x.in.Threads[t.ID] == t {
			if t.State == compiler.End {
				x.endThread(t)
				break
			}
			if x.checkHistory() {
				return
			}
			if x.budget--; x.budget < 0 {
				// Long runs of non-blocking steps continue in a new transaction.
				x.task(taskRun, payload{}, time.Time{})
				x.runnable = nil
				return
			}
			x.step(t)
			if x.parked { // until the committer reads what the step needs
				x.parked = false
				break
			}
		}
	}
	x.finishIfDone() // the last hook may have ended
}

// complete records s's output on t and moves t to s.Next.
func (x *txn) complete(t *thread, s *compiler.State, out any) {
	if s.ID != "" {
		t.Steps[s.ID] = out
	}
	if s.ID != "" || producesOutput(s.Kind) {
		t.Last = out
	}
	detail := map[string]any{"output": out, "tick": t.Tick, "iteration": t.Visits[s.N]}
	if x.did != "" {
		detail["did"], x.did = x.did, ""
	}
	x.event("step", t, s, detail)
	x.goTo(t, s.Next)
	x.wake(t)
}

// producesOutput reports whether a step kind has an output of its own
// (commands and control steps have none).
func producesOutput(k compiler.Kind) bool {
	switch k {
	case compiler.KActivity, compiler.KHook, compiler.KChild, compiler.KWait, compiler.KParallel, compiler.KForEach:
		return true
	}
	return false
}

// failStep fails t's current step: t jumps to the innermost catch, or the
// thread fails.
func (x *txn) failStep(t *thread, s *compiler.State, se *stepError) {
	if se.Step == "" {
		se.Step = s.Label
	}
	if se.Type == "" {
		se.Type = "Error"
	}
	x.event("error", t, s, se)
	x.killChildren(t)
	t.Join = nil
	if s.Catch != compiler.End && s.Catch != t.BaseCatch {
		vars := make(map[string]any, len(t.Vars)+1)
		for k, v := range t.Vars {
			vars[k] = v
		}
		vars["error"] = se.value()
		t.Vars = vars
		x.goTo(t, s.Catch)
		x.wake(t)
		return
	}
	x.threadFailed(t, se)
}

// threadFailed ends t with an error and reports it to whoever awaits t.
func (x *txn) threadFailed(t *thread, se *stepError) {
	x.removeThread(t)
	switch {
	case t.Kind == threadMain:
		x.endWorkflow(store.StatusFailed, nil, se)
	case t.Parent != "":
		x.childEnded(t.Parent, t.Slot, nil, se)
	default:
		x.event("hook-failed", t, nil, se)
		if p, s := x.at(t.Notify, t.NotifyTick, waitSignal); p != nil {
			x.failStep(p, s, se)
		}
	}
}

// endThread runs when t reaches End.
func (x *txn) endThread(t *thread) {
	g := x.graph(t)
	switch t.Kind {
	case threadMain:
		x.mainEnded(t, nil)
	case threadHook:
		var out any
		if g.Result != nil {
			v, err := g.Result.Eval(x.env(t))
			if err == nil {
				v, _, err = jsonify(v)
			}
			if err != nil {
				x.threadFailed(t, &stepError{Message: "result: " + err.Error(), Type: "ExpressionError", Step: "result"})
				return
			}
			out = v
		}
		x.finishThread(t, out)
	default:
		x.finishThread(t, t.Last)
	}
}

// mainEnded parks the main thread at its end (ret: the value of the
// return step that ended it, nil for the end of its steps). The instance
// completes once no hook runs either (finishIfDone).
func (x *txn) mainEnded(t *thread, ret *returned) {
	x.killChildren(t)
	if t.State != compiler.End {
		x.goTo(t, compiler.End)
	}
	t.Wait, t.Signal, t.Join = waitEnd, "", nil
	x.in.Returned = ret
	x.finishIfDone()
}

// finishIfDone completes the instance when its main thread has ended and
// every other thread (hooks and their branches) has ended too. The result
// is computed now, so it sees what the hooks wrote.
func (x *txn) finishIfDone() {
	m := x.in.Threads[threadMain]
	if x.ended || m == nil || m.Wait != waitEnd || len(x.in.Threads) > 1 {
		return
	}
	if x.in.Returned != nil {
		x.endWorkflow(store.StatusCompleted, x.in.Returned.Value, nil)
		return
	}
	var res any = x.entity
	if g := x.graph(m); g.Result != nil {
		v, err := g.Result.Eval(x.env(m))
		if err == nil {
			v, _, err = jsonify(v)
		}
		if err != nil {
			x.endWorkflow(store.StatusFailed, nil, &stepError{Message: "result: " + err.Error(), Type: "ExpressionError", Step: "result"})
			return
		}
		res = v
	}
	x.endWorkflow(store.StatusCompleted, res, nil)
}

func (x *txn) finishThread(t *thread, out any) {
	x.removeThread(t)
	if t.Kind == threadHook {
		x.event("hook-completed", t, nil, map[string]any{"hook": t.Graph, "output": out})
	}
	if t.Parent != "" {
		x.childEnded(t.Parent, t.Slot, out, nil)
	}
}

// removeThread deletes t and every thread forked under it.
func (x *txn) removeThread(t *thread) {
	x.killChildren(t)
	delete(x.in.Threads, t.ID)
}

func (x *txn) killChildren(t *thread) {
	for _, c := range x.in.Threads {
		if c.Parent == t.ID {
			x.removeThread(c)
		}
	}
}

// childEnded reports a hook or branch thread's end to the thread awaiting it.
func (x *txn) childEnded(parentID string, slot int, out any, se *stepError) {
	p := x.in.Threads[parentID]
	if p == nil {
		return
	}
	s := x.state(p)
	if s == nil {
		return
	}
	if p.Join == nil || slot < 0 {
		if p.Wait != waitHook {
			return
		}
		if se != nil {
			x.failStep(p, s, se)
			return
		}
		x.complete(p, s, out)
		return
	}
	j := p.Join
	j.Running--
	if se != nil {
		if j.Failed == nil {
			j.Failed = se
		}
		if s.FailFast {
			x.failStep(p, s, se)
			return
		}
	} else if slot < len(j.Results) {
		j.Results[slot] = out
	}
	if s.Kind == compiler.KForEach && j.Failed == nil {
		x.startItems(p, s)
	}
	if j.Running > 0 || (s.Kind == compiler.KForEach && j.Failed == nil && j.Next < len(j.Items)) {
		return
	}
	p.Join = nil
	if j.Failed != nil {
		x.failStep(p, s, &stepError{Message: j.Failed.Message, Type: j.Failed.Type, Step: j.Failed.Step, Attempts: j.Failed.Attempts})
		return
	}
	x.complete(p, s, j.Results)
}

// endWorkflow ends the instance: completed with res, or failed/cancelled.
func (x *txn) endWorkflow(status string, res any, se *stepError) {
	if x.ended {
		return
	}
	x.ended = true
	now := x.now
	x.job.Status = status
	x.job.CompletedAt = &now
	x.in.Threads = map[string]*thread{}
	var resRaw json.RawMessage
	switch status {
	case store.StatusCompleted:
		resRaw = mustJSON(res)
		x.job.Result = resRaw
		x.event("completed", nil, nil, map[string]any{"result": res})
	default:
		x.job.Error = se.Message
		x.event(status, nil, nil, se)
	}
	for _, c := range x.in.Children {
		// A detached child is its own instance: only a cancel reaches it.
		if c.Ended || c.Detached && status != store.StatusCancelled {
			continue
		}
		x.tasks = append(x.tasks, store.Task{JobID: c.ID, Queue: c.Queue, Kind: taskCancel, Payload: json.RawMessage("{}")})
	}
	watchers := x.in.Watchers
	if x.in.Parent != nil {
		watchers = append([]parentLink{*x.in.Parent}, watchers...)
	}
	for _, pl := range watchers {
		p := payload{Thread: pl.Thread, Tick: pl.Tick, Child: x.job.ID, Status: status, Result: resRaw}
		if se != nil {
			p.Error = se.Message
		}
		x.tasks = append(x.tasks, store.Task{JobID: pl.Job, Queue: pl.Queue, Kind: taskChild, Payload: mustJSON(p)})
	}
}

// cancel ends the instance as cancelled.
func (x *txn) cancel(reason string) {
	x.endWorkflow(store.StatusCancelled, nil, &stepError{Message: reason, Type: "Cancelled"})
}

// deliverSignal hands data to the oldest thread waiting for name, or keeps it.
func (x *txn) deliverSignal(name string, data any) {
	for _, t := range x.in.threadsByNum() {
		if t.Wait == waitSignal && t.Signal == name {
			s := x.state(t)
			if s == nil {
				continue
			}
			x.complete(t, s, data)
			return
		}
	}
	if x.in.Signals == nil {
		x.in.Signals = map[string][]any{}
	}
	x.in.Signals[name] = append(x.in.Signals[name], data)
	x.event("signal-kept", nil, nil, map[string]any{"name": name, "data": data})
}

// takeSignal consumes a kept signal of that name.
func (x *txn) takeSignal(name string) (any, bool) {
	q := x.in.Signals[name]
	if len(q) == 0 {
		return nil, false
	}
	data := q[0]
	if len(q) == 1 {
		delete(x.in.Signals, name)
	} else {
		x.in.Signals[name] = q[1:]
	}
	return data, true
}

var errStale = errors.New("task already handled")

// errExists rolls back a start whose id is taken (idempotent start).
var errExists = errors.New("instance exists")
