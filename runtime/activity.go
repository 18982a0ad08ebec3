package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memflow/memflow/activities"
	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/internal/store"
)

// This file runs activities: attempts, retries, lease heartbeats and
// cancellation of running activities.

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
// commits its result (or failure) if the step still waits for it. The
// task's lease is extended while the activity runs and while its result is
// being committed; a claim that no longer holds the task commits nothing.
func (e *Engine) runActivity(ctx context.Context, task store.Task, p payload, job *store.Job, prog *program, cfg *WorkerConfig) {
	in, err := decodeInstance(job.State)
	if err != nil {
		e.retryLater(task, err)
		return
	}
	t := in.Threads[p.Thread]
	if t == nil || t.Tick != p.Tick || t.Wait != waitActivity {
		e.dropTask(task) // already committed or abandoned
		return
	}
	x := &txn{prog: prog}
	s := x.state(t)
	if s == nil || s.Kind != compiler.KActivity {
		e.dropTask(task)
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
	var lost atomic.Bool // the heartbeat found the task held by another claim, or gone
	var stopBeat func()
	fn, ok := e.acts.Lookup(s.Activity)
	switch {
	case task.Attempts > 1 && attempt > maxAttempts(s):
		// The claims before this one never finished (their workers
		// stopped): the attempts are used up without a result.
		err = fmt.Errorf("activity %s: attempt %d never finished (the worker running it stopped) and no attempts are left", s.Activity, attempt-1)
		attempt--
	case !ok:
		err = fmt.Errorf("activity %q is not registered on worker", s.Activity)
	default:
		began := time.Now()
		actx, span := e.attemptSpan(ctx, in, job, s, threadID, attempt)
		out, err = e.call(actx, fn, info, p, func(cancel context.CancelFunc) func() {
			stopBeat = e.heartbeat(task, cfg, func() { lost.Store(true); cancel() })
			return func() {}
		})
		endAttempt(span, err)
		took := time.Since(began)
		e.met.Attempt(s.Activity, err == nil, took)
		e.logAttempt(job, s, attempt, p.Args, out, err, took)
	}
	if stopBeat != nil {
		defer stopBeat() // the lease is kept until the result commits
	}
	if lost.Load() {
		return // the task's outcome is no longer this claim's to commit
	}
	if ctx.Err() != nil {
		// Shutdown: hand the work back as a fresh task; this claim is not an
		// attempt.
		p.Attempt = attempt - 1
		_, rerr := withDB(e, func(dbctx context.Context) (bool, error) {
			return false, e.st.InTx(dbctx, func(tx store.Tx) error {
				ok, err := tx.DeleteTask(dbctx, task.ID, task.Attempts)
				if err != nil || !ok {
					return err
				}
				return tx.EnqueueTasks(dbctx, []store.Task{{JobID: task.JobID, Queue: task.Queue, Kind: task.Kind, Payload: mustJSON(p)}})
			})
		})
		if rerr != nil && !errors.Is(rerr, store.ErrTaskGone) {
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
	ev := event{Kind: evOutcome, P: p, Attempt: attempt, Result: val, Err: err}
	e.commitTask(ctx, task, prog, job, lost.Load, func(*txn) (event, error) { return ev, nil })
}

// logAttempt logs an activity attempt: a failed one at info, every one at
// debug. Arguments and results are logged only at debug: they may hold
// what users would not want in logs.
func (e *Engine) logAttempt(job *store.Job, s *compiler.State, attempt int, args, out json.RawMessage, err error, took time.Duration) {
	ctx := context.Background()
	debug := e.log.Enabled(ctx, slog.LevelDebug)
	if err == nil && !debug {
		return
	}
	attrs := []any{"workflow", job.Flow, "id", job.ID, "step", s.Label, "attempt", attempt, "activity", s.Activity, "took", took}
	if debug {
		attrs = append(attrs, "args", string(args), "result", string(out))
	}
	if err != nil {
		e.log.Info("activity attempt failed", append(attrs, "err", err)...)
		return
	}
	e.log.Debug("activity attempt", attrs...)
}

// maxAttempts is the number of attempts s's retry policy allows.
func maxAttempts(s *compiler.State) int {
	policy := defaultRetry
	if s.Retry != nil {
		policy = *s.Retry
	}
	return max(policy.MaxAttempts, 1)
}

// activityFailed retries the attempt with back-off or fails the step.
func (x *txn) activityFailed(t *thread, s *compiler.State, p payload, attempt int, err error) {
	policy := defaultRetry
	if s.Retry != nil {
		policy = *s.Retry
	}
	typ := attemptErrorType(err)
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

// attemptErrorType is the flow error type of a failed attempt: the type the
// activity gave, else Timeout or ActivityError.
func attemptErrorType(err error) string {
	typ := activities.ErrorType(err)
	switch {
	case typ != "":
	case errors.Is(err, context.DeadlineExceeded):
		typ = "Timeout"
	default:
		typ = "ActivityError"
	}
	return typ
}

// call runs fn for one attempt with its info, timeout and panic guard.
func (e *Engine) call(ctx context.Context, fn activities.Func, info activities.Info, p payload, beat func(context.CancelFunc) func()) (out json.RawMessage, err error) {
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer beat(cancel)()
	unregister := e.running.add(info.WorkflowID, p.Thread, p.Tick, cancel)
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

// heartbeat keeps task leased by this claim, extending its lease every
// cfg.Heartbeat (each extension with its own database timeout). When the
// claim no longer holds the task (another claim took it after the lease
// expired, this worker's own included, or the step was committed) it calls
// lost. It returns a stop function.
func (e *Engine) heartbeat(task store.Task, cfg *WorkerConfig, lost func()) func() {
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
			held, err := withDB(e, func(ctx context.Context) (bool, error) {
				return e.st.ExtendLease(ctx, task.ID, task.Worker, task.Attempts, e.now().Add(cfg.Lease))
			})
			if err != nil {
				e.log.Warn("extend task lease", "task", task.ID, "err", err)
				continue
			}
			if !held {
				lost()
				return
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(stop); <-done }) }
}

// inflight tracks running activities by instance, with the thread and tick
// each runs for, so a cancel can stop them: all of an instance's, or those
// whose thread was stopped (a hook cancelled, a branch of a failFast step).
type inflight struct {
	mu   sync.Mutex
	next int
	jobs map[string]map[int]running
}

type running struct {
	thread string
	tick   int64
	cancel context.CancelFunc
}

func newInflight() *inflight { return &inflight{jobs: map[string]map[int]running{}} }

func (r *inflight) add(job, thread string, tick int64, cancel context.CancelFunc) func() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next++
	n := r.next
	if r.jobs[job] == nil {
		r.jobs[job] = map[int]running{}
	}
	r.jobs[job][n] = running{thread: thread, tick: tick, cancel: cancel}
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
		c.cancel()
	}
}

// has reports whether an activity of job runs here.
func (r *inflight) has(job string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.jobs[job]) > 0
}

// cancelStopped cancels the running activities of job whose thread in is
// no longer has, or has moved past the tick they ran for.
func (r *inflight) cancelStopped(job string, in *instance) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.jobs[job] {
		if c.thread == "" {
			continue
		}
		if t := in.Threads[c.thread]; t == nil || t.Tick != c.tick {
			c.cancel()
		}
	}
}

// checkCancelled cancels running activities of instances that ended
// elsewhere (cancelled through another process), and those whose thread was
// stopped elsewhere (a hook cancelled by a step run on another worker).
func (r *inflight) checkCancelled(ctx context.Context, st store.Store) {
	r.mu.Lock()
	ids := make([]string, 0, len(r.jobs))
	for id := range r.jobs {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	for _, id := range ids {
		j, err := st.GetJob(ctx, id)
		if err != nil {
			continue
		}
		if j.Status != store.StatusRunning {
			r.cancelJob(id)
			continue
		}
		if in, err := decodeInstance(j.State); err == nil {
			r.cancelStopped(id, in)
		}
	}
}
