package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/memflow/memflow/activities"
	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/internal/store"
)

// WorkerConfig configures Work. Zero fields take the documented defaults.
type WorkerConfig struct {
	Queues      []string      // queues to serve; empty: all
	Concurrency int           // tasks in flight at once; default 10
	Lease       time.Duration // how long a claimed task is ours; default 30s
	Poll        time.Duration // longest sleep between claims without a wakeup; default 1s
	Grace       time.Duration // how long in-flight activities may finish at shutdown; default 10s
	// Heartbeat is how often a running activity pushes its task's lease
	// forward, so an activity may outlive Lease without running twice;
	// default Lease/3; negative: never.
	Heartbeat time.Duration
	ID        string // worker id recorded on claims; default host-pid-random
}

func (c *WorkerConfig) defaults() error {
	if c.Concurrency < 0 || c.Lease < 0 || c.Poll < 0 || c.Grace < 0 {
		return errors.New("worker config: Concurrency, Lease, Poll and Grace must not be negative")
	}
	if c.Concurrency == 0 {
		c.Concurrency = 10
	}
	if c.Lease == 0 {
		c.Lease = 30 * time.Second
	}
	if c.Poll == 0 {
		c.Poll = time.Second
	}
	if c.Grace == 0 {
		c.Grace = 10 * time.Second
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = c.Lease / 3
	}
	if c.ID == "" {
		host, _ := os.Hostname()
		c.ID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), newID()[:6])
	}
	return nil
}

// dbTimeout bounds one database write made after shutdown began.
const dbTimeout = 30 * time.Second

// Work claims and runs tasks until ctx ends. At shutdown it stops claiming,
// lets in-flight tasks finish for cfg.Grace, then cancels the activities
// still running; their tasks return to the queue (or to lease expiry).
func (e *Engine) Work(ctx context.Context, cfg WorkerConfig) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	wake, err := e.st.Wakeups(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting: nothing was claimed
		}
		return fmt.Errorf("worker %s: wakeups: %w", cfg.ID, err)
	}
	// Activities outlive ctx by the grace period.
	actCtx, actCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer actCancel()
	done := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	inflight := 0
	failures := 0
	lastCheck := e.now()
	// claim is set when there may be due tasks: at start, after a wakeup or
	// a poll interval, or when the last claim filled every free slot. A
	// finished task alone does not cause a claim (it would mostly be empty,
	// and every claim is a commit).
	claim := true
	for ctx.Err() == nil {
		if free := cfg.Concurrency - inflight; free > 0 && claim {
			claim = false
			drainWakeups(wake) // this claim sees every task they announced
			tasks, err := e.st.ClaimTasks(ctx, store.ClaimParams{Queues: cfg.Queues, Limit: free,
				Lease: cfg.Lease, Worker: cfg.ID, Now: e.now(), WithJobs: true})
			switch {
			case err != nil && ctx.Err() == nil:
				failures++
				claim = true
				e.log.Warn("claim tasks", "worker", cfg.ID, "err", err)
			case err == nil:
				failures = 0
			}
			for _, t := range tasks {
				inflight++
				wg.Add(1)
				go func() {
					defer wg.Done()
					e.handle(actCtx, t, &cfg)
					done <- struct{}{}
				}()
			}
			if len(tasks) == free {
				// There may be more: claim again as soon as a slot frees.
				claim = true
				select {
				case <-done:
					inflight--
				case <-ctx.Done():
				}
				continue
			}
		}
		if now := e.now(); now.Sub(lastCheck) >= cfg.Poll {
			lastCheck = now
			e.running.checkCancelled(ctx, e.st)
		}
		wait := cfg.Poll
		if failures > 0 {
			wait = min(cfg.Poll*time.Duration(failures), 30*time.Second)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case _, ok := <-wake:
			if !ok {
				wake = nil
			}
			claim = true
		case <-done:
			inflight--
		case <-timer.C:
			claim = true
		}
		timer.Stop()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	grace := time.NewTimer(cfg.Grace)
	defer grace.Stop()
	select {
	case <-finished:
	case <-grace.C:
		actCancel()
		<-finished
	}
	return nil
}

// drainWakeups discards the wakeups already delivered.
func drainWakeups(wake <-chan string) {
	for {
		select {
		case _, ok := <-wake:
			if !ok {
				return
			}
		default:
			return
		}
	}
}

// handle processes one claimed task. ctx is cancelled only when the grace
// period of a shutdown ends.
func (e *Engine) handle(ctx context.Context, task store.Task, cfg *WorkerConfig) {
	dbctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dbTimeout)
	defer cancel()
	var p payload
	if err := json.Unmarshal(task.Payload, &p); err != nil {
		e.log.Error("drop task with bad payload", "task", task.ID, "job", task.JobID, "err", err)
		e.dropTask(dbctx, task)
		return
	}
	job, err := task.Job, error(nil) // read by the claim
	if job == nil {
		job, err = e.st.GetJob(dbctx, task.JobID)
	}
	if errors.Is(err, store.ErrNotFound) {
		e.dropTask(dbctx, task)
		return
	}
	if err != nil {
		e.retryLater(dbctx, task, err)
		return
	}
	if job.Status != store.StatusRunning {
		e.dropTask(dbctx, task)
		return
	}
	prog, err := e.programFor(dbctx, job.Flow, job.Version)
	if err != nil {
		e.retryLater(dbctx, task, err)
		return
	}
	if task.Kind == taskActivity {
		e.runActivity(ctx, dbctx, task, p, job, prog, cfg)
		return
	}
	children, err := e.childPrograms(dbctx, prog)
	if err != nil {
		e.retryLater(dbctx, task, err)
		return
	}
	err = e.transition(dbctx, &task, prog, children, func(x *txn) error {
		return x.apply(task.Kind, p)
	})
	if err != nil {
		e.retryLater(dbctx, task, err)
	}
}

// childPrograms resolves the workflows prog may start as children.
func (e *Engine) childPrograms(ctx context.Context, prog *program) (map[string]*program, error) {
	if len(prog.Children) == 0 {
		return nil, nil
	}
	out := make(map[string]*program, len(prog.Children))
	for _, name := range prog.Children {
		cp, err := e.newestProgram(ctx, name)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				continue // the child step fails with a clear error
			}
			return nil, err
		}
		out[name] = cp
	}
	return out, nil
}

// transition runs apply on the locked instance and commits it together with
// the deletion of task (nil: none). A task another worker already handled is
// ignored.
func (e *Engine) transition(ctx context.Context, task *store.Task, prog *program, children map[string]*program, apply func(x *txn) error) error {
	jobID := ""
	if task != nil {
		jobID = task.JobID
	}
	var ended *store.Job
	err := e.st.InTx(ctx, func(tx store.Tx) error {
		ended = nil
		x, err := e.begin(ctx, tx, prog, jobID, children)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if task != nil {
			ok, err := tx.DeleteTask(ctx, task.ID)
			if err != nil {
				return err
			}
			if !ok {
				return errStale
			}
		}
		if x == nil {
			return nil
		}
		if err := apply(x); err != nil {
			return err
		}
		x.drain()
		if x.ended {
			ended = x.job
		}
		return x.commit()
	})
	if errors.Is(err, errStale) {
		return nil
	}
	if err == nil && ended != nil {
		e.ends.ended(ended)
		if ended.Status != store.StatusCompleted {
			e.running.cancelJob(ended.ID)
		}
	}
	return err
}

// apply handles one task kind on the locked instance.
func (x *txn) apply(kind string, p payload) error {
	switch kind {
	case taskRun:
		x.runAll()
	case taskSignal:
		data, err := decodeValue(p.Data)
		if err != nil {
			return fmt.Errorf("signal %s: decode data: %w", p.Name, err)
		}
		x.deliverSignal(p.Name, data)
	case taskHook:
		args, err := decodeValue(p.Data)
		if err != nil {
			return fmt.Errorf("hook %s: decode arguments: %w", p.Name, err)
		}
		if _, err := x.spawnHook(p.Name, args, nil, -1); err != nil {
			x.event("hook-failed", nil, nil, map[string]any{"hook": p.Name, "message": err.Error()})
		}
	case taskCancel:
		x.cancel("cancelled: parent workflow ended")
	case taskChild:
		t, s := x.at(p.Thread, p.Tick, waitChild)
		if t == nil {
			return nil
		}
		if p.Status == store.StatusCompleted {
			res, err := decodeValue(p.Result)
			if err != nil {
				return err
			}
			x.complete(t, s, res)
			return nil
		}
		x.failStep(t, s, &stepError{Message: fmt.Sprintf("child workflow %q %s: %s", p.Child, p.Status, p.Error), Type: "ChildFailed"})
	case taskTimer:
		x.timer(p)
	default:
		return fmt.Errorf("unknown task kind %q", kind)
	}
	return nil
}

// at returns the thread and state a task was made for, or nil when the
// thread has moved on since (the task is stale).
func (x *txn) at(thread string, tick int64, wait string) (*thread, *compiler.State) {
	t := x.in.Threads[thread]
	if t == nil || t.Tick != tick || t.Wait != wait {
		return nil, nil
	}
	s := x.state(t)
	if s == nil {
		return nil, nil
	}
	return t, s
}

func (x *txn) timer(p payload) {
	switch p.Timer {
	case timerWorkflow:
		x.endWorkflow(store.StatusFailed, nil, &stepError{Message: fmt.Sprintf("workflow %s timed out", x.job.Flow), Type: "Timeout"})
	case timerHook:
		if t := x.in.Threads[p.Thread]; t != nil && t.Kind == threadHook {
			x.threadFailed(t, &stepError{Message: fmt.Sprintf("hook %s timed out", t.Graph), Type: "Timeout"})
		}
	case timerSleep:
		if t, s := x.at(p.Thread, p.Tick, waitSleep); t != nil {
			x.complete(t, s, nil)
		}
	case timerWait:
		if t, s := x.at(p.Thread, p.Tick, waitSignal); t != nil {
			x.failStep(t, s, &stepError{Message: fmt.Sprintf("wait for signal %q timed out", t.Signal), Type: "Timeout"})
		}
	}
}

func (e *Engine) dropTask(ctx context.Context, task store.Task) {
	err := e.st.InTx(ctx, func(tx store.Tx) error {
		_, err := tx.DeleteTask(ctx, task.ID)
		return err
	})
	if err != nil {
		e.log.Warn("drop task", "task", task.ID, "job", task.JobID, "err", err)
	}
}

// retryLater puts a task whose handling failed (a database error) back on
// the queue with back-off; if even that fails, lease expiry brings it back.
func (e *Engine) retryLater(ctx context.Context, task store.Task, cause error) {
	delay := backoff(&compiler.Retry{InitialMS: 200, Coefficient: 2, MaxMS: 30000}, task.Attempts)
	e.log.Warn("task failed; retrying", "task", task.ID, "job", task.JobID, "kind", task.Kind, "in", delay, "err", cause)
	err := e.st.InTx(ctx, func(tx store.Tx) error {
		return tx.RescheduleTask(ctx, task.ID, e.now().Add(delay))
	})
	if err != nil {
		e.log.Warn("reschedule task", "task", task.ID, "err", err)
	}
}

// defaultRetry applies when an activity step has no policy.
var defaultRetry = compiler.Retry{MaxAttempts: 3, InitialMS: 1000, Coefficient: 2, MaxMS: 60000}

// backoff is the delay before the attempt after attempt (from 1).
func backoff(r *compiler.Retry, attempt int) time.Duration {
	initial, coef, maxMS := float64(r.InitialMS), r.Coefficient, float64(r.MaxMS)
	if initial <= 0 {
		initial = 1000
	}
	if coef < 1 {
		coef = 2
	}
	if maxMS <= 0 {
		maxMS = 60000
	}
	ms := min(initial*math.Pow(coef, float64(max(attempt-1, 0))), maxMS)
	return time.Duration(ms) * time.Millisecond
}

// runActivity runs the activity a task names, outside any transaction, then
// commits its result (or failure) if the step still waits for it.
func (e *Engine) runActivity(ctx, dbctx context.Context, task store.Task, p payload, job *store.Job, prog *program, cfg *WorkerConfig) {
	in, err := decodeInstance(job.State)
	if err != nil {
		e.retryLater(dbctx, task, err)
		return
	}
	t := in.Threads[p.Thread]
	if t == nil || t.Tick != p.Tick || t.Wait != waitActivity {
		e.dropTask(dbctx, task) // already committed or abandoned
		return
	}
	x := &txn{prog: prog}
	s := x.state(t)
	if s == nil || s.Kind != compiler.KActivity {
		e.dropTask(dbctx, task)
		return
	}
	attempt := p.Attempt + task.Attempts
	threadID := ""
	if t.Kind != threadMain {
		threadID = t.ID
	}
	info := activities.Info{WorkflowID: job.ID, StepID: s.Label, Thread: threadID, Iteration: t.Visits[s.N], Attempt: attempt}
	info.IdempotencyKey = fmt.Sprintf("%s/%s/%d", job.ID, s.Label, info.Iteration)
	if threadID != "" {
		info.IdempotencyKey = fmt.Sprintf("%s/%s/%s/%d", job.ID, threadID, s.Label, info.Iteration)
	}
	var out json.RawMessage
	fn, ok := e.acts.Lookup(s.Activity)
	if !ok {
		err = fmt.Errorf("activity %q is not registered on worker", s.Activity)
	} else {
		out, err = e.call(ctx, fn, info, p, func(cancel context.CancelFunc) func() {
			return e.heartbeat(dbctx, task, cfg, cancel)
		})
	}
	if ctx.Err() != nil {
		// Shutdown: hand the task back untouched; it is not an attempt.
		if rerr := e.st.InTx(dbctx, func(tx store.Tx) error { return tx.RescheduleTask(dbctx, task.ID, e.now()) }); rerr != nil {
			e.log.Warn("release task at shutdown", "task", task.ID, "err", rerr)
		}
		return
	}
	var val any
	if err == nil {
		if len(out) > MaxPayload {
			err = activities.NonRetryable(&activities.Error{Type: "ResultTooLarge",
				Message: fmt.Sprintf("activity %s result of %d bytes exceeds the %d byte limit", s.Activity, len(out), MaxPayload)})
		} else if val, err = decodeValue(out); err != nil {
			err = activities.NonRetryable(fmt.Errorf("activity %s returned invalid JSON: %w", s.Activity, err))
		}
	}
	children, cerr := e.childPrograms(dbctx, prog)
	if cerr != nil {
		e.retryLater(dbctx, task, cerr)
		return
	}
	apply := func(x *txn) error {
		t, s := x.at(p.Thread, p.Tick, waitActivity)
		if t == nil {
			return nil
		}
		if err == nil {
			x.complete(t, s, val)
			return nil
		}
		x.activityFailed(t, s, p, attempt, err)
		return nil
	}
	if terr := e.transition(dbctx, &task, prog, children, apply); terr != nil {
		e.retryLater(dbctx, task, terr)
	}
}

// activityFailed retries the attempt with back-off or fails the step.
func (x *txn) activityFailed(t *thread, s *compiler.State, p payload, attempt int, err error) {
	policy := defaultRetry
	if s.Retry != nil {
		policy = *s.Retry
	}
	typ := activities.ErrorType(err)
	switch {
	case typ != "":
	case errors.Is(err, context.DeadlineExceeded):
		typ = "Timeout"
	default:
		typ = "ActivityError"
	}
	se := &stepError{Message: err.Error(), Type: typ, Step: s.Label, Attempts: attempt}
	if activities.IsNonRetryable(err) || slices.Contains(policy.NonRetryable, typ) || attempt >= max(policy.MaxAttempts, 1) {
		x.failStep(t, s, se)
		return
	}
	delay := backoff(&policy, attempt)
	if d, ok := activities.RetryDelay(err); ok && d > delay {
		delay = d
	}
	p.Attempt = attempt
	x.task(taskActivity, p, x.now.Add(delay))
	x.event("retry", t, s, map[string]any{"error": se, "in": delay.String()})
}

// call runs fn for one attempt with its info, timeout and panic guard.
func (e *Engine) call(ctx context.Context, fn activities.Func, info activities.Info, p payload, beat func(context.CancelFunc) func()) (out json.RawMessage, err error) {
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer beat(cancel)()
	unregister := e.running.add(info.WorkflowID, cancel)
	defer unregister()
	if p.TimeoutMS > 0 {
		var c2 context.CancelFunc
		actx, c2 = context.WithTimeout(actx, time.Duration(p.TimeoutMS)*time.Millisecond)
		defer c2()
	}
	actx = activities.WithLogger(activities.WithInfo(actx, info), e.log)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("activity panicked: %v", r)
		}
	}()
	out, err = fn(actx, p.Args)
	if err == nil && actx.Err() != nil && ctx.Err() == nil {
		err = fmt.Errorf("activity %s: %w", info.StepID, actx.Err())
	}
	return out, err
}

// heartbeat keeps task leased while its activity runs, by pushing its due
// time a lease ahead every cfg.Heartbeat. When the task is gone (another
// worker committed the step) it cancels the activity. It returns a stop
// function.
func (e *Engine) heartbeat(ctx context.Context, task store.Task, cfg *WorkerConfig, cancel context.CancelFunc) func() {
	if cfg.Heartbeat <= 0 {
		return func() {}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(cfg.Heartbeat)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			err := e.st.InTx(ctx, func(tx store.Tx) error {
				return tx.RescheduleTask(ctx, task.ID, e.now().Add(cfg.Lease))
			})
			if errors.Is(err, store.ErrNotFound) {
				cancel()
				return
			}
			if err != nil {
				e.log.Warn("extend task lease", "task", task.ID, "err", err)
			}
		}
	}()
	return func() { close(stop); <-done }
}

// inflight tracks running activities by instance so a cancel can stop them.
type inflight struct {
	mu   sync.Mutex
	next int
	jobs map[string]map[int]context.CancelFunc
}

func newInflight() *inflight { return &inflight{jobs: map[string]map[int]context.CancelFunc{}} }

func (r *inflight) add(job string, cancel context.CancelFunc) func() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next++
	n := r.next
	if r.jobs[job] == nil {
		r.jobs[job] = map[int]context.CancelFunc{}
	}
	r.jobs[job][n] = cancel
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.jobs[job], n)
		if len(r.jobs[job]) == 0 {
			delete(r.jobs, job)
		}
	}
}

func (r *inflight) cancelJob(job string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.jobs[job] {
		c()
	}
}

// checkCancelled cancels running activities of instances that ended
// elsewhere (cancelled through another process).
func (r *inflight) checkCancelled(ctx context.Context, st store.Store) {
	r.mu.Lock()
	ids := make([]string, 0, len(r.jobs))
	for id := range r.jobs {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	for _, id := range ids {
		if j, err := st.GetJob(ctx, id); err == nil && j.Status != store.StatusRunning {
			r.cancelJob(id)
		}
	}
}
