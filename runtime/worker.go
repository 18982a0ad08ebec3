package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/internal/store"
	"go.opentelemetry.io/otel/trace"
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
	// Root restricts the worker to the tasks of one instance tree: the
	// instance Root and every instance started under it (its children,
	// theirs and so on). "" serves every instance.
	Root string
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
	e.workers.Add(1)
	defer e.workers.Add(-1)
	// Activities outlive ctx by the grace period.
	actCtx, actCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer actCancel()
	done := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	// lw counts the tasks in flight (busy) and receives tasks that
	// transitions of this engine hand over (handoff.go).
	lw := &localWorker{id: cfg.ID, lease: cfg.Lease, max: int64(cfg.Concurrency), root: cfg.Root,
		tasks: make(chan store.Task, cfg.Concurrency)}
	if len(cfg.Queues) > 0 {
		lw.queues = map[string]bool{}
		for _, q := range cfg.Queues {
			lw.queues[q] = true
		}
	}
	e.loc.add(lw)
	run := func(t store.Task) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.handle(actCtx, t, &cfg)
			// The slot is free at once, not when this loop next looks: a
			// caller told of the task's result may start an instance now,
			// and its task is handed over only to a worker with a free slot
			// (a declined hand-off costs a claim transaction). done only
			// wakes the loop to claim.
			lw.busy.Add(-1)
			select {
			case done <- struct{}{}:
			default:
			}
		}()
	}
	var down time.Time // when claims began failing (zero: they work)
	lastCheck := time.Now()
	// claim is set when there may be due tasks: at start, after a wakeup or
	// a poll interval, or when the last claim filled every free slot. A
	// finished task alone does not cause a claim (it would mostly be empty,
	// and every claim is a commit).
	claim := true
	var lastClaim time.Time
	for ctx.Err() == nil {
		// Checked first so that cancellations are seen under full load too.
		if now := time.Now(); now.Sub(lastCheck) >= cfg.Poll {
			lastCheck = now
			e.running.checkCancelled(ctx, e.st)
			e.sweep(ctx)
		}
		if free := cfg.Concurrency - int(lw.busy.Load()); free > 0 && claim {
			if lw.busy.Load() > 0 {
				// Busy: let wakeups gather for a moment so one claim (one
				// commit) takes several tasks.
				pause(ctx, claimGap-time.Since(lastClaim))
			}
			claim = false
			lastClaim = time.Now()
			drainWakeups(wake) // this claim sees every task they announced
			cctx, cancel := context.WithTimeout(ctx, e.lim.DBTimeout)
			tasks, err := e.st.ClaimTasks(cctx, store.ClaimParams{Queues: cfg.Queues, Limit: free,
				Lease: cfg.Lease, Worker: cfg.ID, Now: e.now(), WithJobs: true, Root: cfg.Root})
			cancel()
			switch {
			case err != nil && ctx.Err() == nil:
				if down.IsZero() {
					down = time.Now()
				}
				claim = true
				e.log.Warn("claim tasks", "worker", cfg.ID, "err", err)
			case err == nil:
				down = time.Time{}
			}
			lw.busy.Add(int64(len(tasks)))
			for _, t := range tasks {
				run(t)
			}
			if len(tasks) == free {
				// There may be more: claim again as soon as a slot frees.
				claim = true
				select {
				case <-done:
				case t := <-lw.tasks:
					run(t) // its slot was taken when it was handed over
				case <-ctx.Done():
				}
				continue
			}
		}
		wait := cfg.Poll
		if !down.IsZero() {
			// The store is failing: try again soon, later the longer it
			// has been down, so a brief outage costs little.
			wait = min(outageDelay(time.Since(down)), cfg.Poll)
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
		case t := <-lw.tasks:
			run(t) // its slot was taken when it was handed over
		case <-timer.C:
			claim = true
		}
		timer.Stop()
	}
	// No more hand-offs; those already handed over but not started go back
	// to the queue (if that fails, their lease expires).
	e.loc.remove(lw)
	for {
		select {
		case t := <-lw.tasks:
			e.release(t, 0)
			continue
		default:
		}
		break
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	grace := time.NewTimer(cfg.Grace)
	defer grace.Stop()
	// Tasks still report to done as they end, and more can end now than
	// done holds: a claim counts its free slots before the hand-offs made
	// while it runs. Their reports are taken so none blocks the shutdown.
	expired := grace.C
	for {
		select {
		case <-finished:
			return nil
		case <-done:
		case <-expired:
			actCancel()
			expired = nil
		}
	}
}

// claimGap is the shortest interval between two claims while tasks are in
// flight.
const claimGap = 2 * time.Millisecond

// pause waits for d (if positive) or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
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
// period of a shutdown ends; every database call made on the task's behalf
// gets its own timeout (Limits.DBTimeout), so an activity may run as long as
// its step allows and its result still commits.
func (e *Engine) handle(ctx context.Context, task store.Task, cfg *WorkerConfig) {
	defer func() {
		if r := recover(); r != nil {
			// A transition that panics fails this claim; after
			// Limits.MaxTaskAttempts claims its instance fails.
			e.log.Error("task handling panicked", "task", task.ID, "id", task.JobID, "kind", task.Kind, "panic", r)
			e.retryLater(task, fmt.Errorf("handling panicked: %v", r))
		}
	}()
	var p payload
	if err := json.Unmarshal(task.Payload, &p); err != nil {
		e.log.Error("drop task with bad payload", "task", task.ID, "id", task.JobID, "err", err)
		e.dropTask(task)
		return
	}
	job, err := task.Job, error(nil) // read by the claim
	if job == nil {
		job, err = withDB(e, func(ctx context.Context) (*store.Job, error) { return e.st.GetJob(ctx, task.JobID) })
	}
	if errors.Is(err, store.ErrNotFound) {
		e.dropTask(task)
		return
	}
	if err != nil {
		e.retryLater(task, err)
		return
	}
	if job.Status != store.StatusRunning {
		e.dropTask(task)
		return
	}
	prog, err := withDB(e, func(ctx context.Context) (*program, error) { return e.res.pinned(ctx, job.Flow, job.Version) })
	if err != nil {
		e.retryLater(task, err)
		return
	}
	if task.Kind != taskActivity && task.Attempts > e.lim.MaxTaskAttempts {
		// Earlier claims of this task never finished: the workers handling
		// it died or failed each time. Stop the instance instead of taking
		// down one worker after another.
		msg := fmt.Sprintf("%s task claimed %d times without finishing (limit %d): the workers handling it stopped or failed each time",
			task.Kind, task.Attempts-1, e.lim.MaxTaskAttempts)
		e.commitTask(ctx, task, prog, nil, nil, func(*txn) (event, error) { return event{Kind: evStuck, Message: msg}, nil })
		return
	}
	if task.Attempts > 1 {
		e.met.LeaseExpired() // an earlier claim of this task did not finish it
	}
	if task.Kind == taskActivity {
		e.runActivity(ctx, task, p, job, prog, cfg)
		return
	}
	e.commitTask(ctx, task, prog, job, nil, func(x *txn) (event, error) {
		return x.eventOf(&task, p)
	})
}

// withDB runs fn with a context bounded by Limits.DBTimeout.
func withDB[T any](e *Engine, fn func(ctx context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(context.Background(), e.lim.DBTimeout)
	defer cancel()
	return fn(ctx)
}

// outageDelay is how long to wait before trying the database again when it
// has failed for the last down: short at first, longer the longer the
// outage lasts, whatever the number of tries so far.
func outageDelay(down time.Duration) time.Duration {
	return min(max(down/4, 50*time.Millisecond), 5*time.Second)
}

// commitTask runs the event ev makes as task's transition, with the
// programs of the workflows prog may start as children. A child resolved
// from this engine's memory that no longer serves (another process loaded or
// removed it) fails the commit; the transition runs again at once with the
// child resolved afresh. An infrastructure failure (store.IsTransient) is
// tried again on a fresh connection with a back-off that tracks the outage,
// for as long as lost (nil: never) says the task is still this worker's and
// at most one lease; other failures reschedule the task. snap, when set, is
// the instance as the task's claim or hand-off read it (transition).
func (e *Engine) commitTask(ctx context.Context, task store.Task, prog *program, snap *store.Job, lost func() bool, ev func(x *txn) (event, error)) {
	began := time.Now()
	var down time.Time // when the current outage began
	for {
		err := e.commitOnce(task, prog, snap, ev)
		if err == nil {
			return
		}
		if !store.IsTransient(err) || (lost != nil && lost()) || time.Since(began) > e.lim.DBTimeout {
			if lost == nil || !lost() {
				e.retryLater(task, err)
			}
			return
		}
		if down.IsZero() {
			down = time.Now()
		}
		e.met.StoreRetry()
		e.log.Warn("commit failed; trying again", "workflow", prog.Name, "id", task.JobID, "task", task.ID, "kind", task.Kind, "err", err)
		pause(context.WithoutCancel(ctx), outageDelay(time.Since(down)))
	}
}

func (e *Engine) commitOnce(task store.Task, prog *program, snap *store.Job, ev func(x *txn) (event, error)) error {
	return e.res.retryStale(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), e.lim.DBTimeout)
		defer cancel()
		children, err := e.res.children(ctx, prog)
		if err != nil {
			return err
		}
		return e.transition(ctx, &task, prog, children, snap, ev)
	})
}

// transition applies the event mkEvent makes (once per transaction: it may
// read the database) to the instance, runs its threads (interpret) and
// commits it together with the deletion of task (nil: none). A task another
// worker already handled is ignored.
//
// With snap (the instance as the task's claim or hand-off read it) the
// transition reads nothing first: it runs on snap and writes only if the
// instance is still at snap's revision (store.Transition.Unlocked), so a
// transition whose instance nobody touched meanwhile costs one round trip.
// If it was touched, the transition runs again on the locked instance.
func (e *Engine) transition(ctx context.Context, task *store.Task, prog *program, children childSet, snap *store.Job, mkEvent func(x *txn) (event, error)) error {
	jobID, kind := "", ""
	if task != nil {
		jobID, kind = task.JobID, task.Kind
	}
	began := time.Now()
	var ended, committed *store.Job
	var spawned []string // workflows of the children the transition started
	var after *instance  // the state committed, for cancelStopped
	var done *txn        // the transition committed, for its span
	out := &outbox{l: &e.loc}
	pe := newPeers()
	if snap != nil && snap.ID != jobID {
		snap = nil
	}
	err := rerun(func() error {
		err := e.st.InTx(ctx, func(tx store.Tx) error {
			ended, committed, after, done = nil, nil, nil, nil
			out.reset()
			var x *txn
			var err error
			if snap != nil {
				x, err = e.beginFrom(ctx, tx, prog, snap, children)
			} else {
				x, err = e.begin(ctx, tx, prog, jobID, children)
			}
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if x != nil {
				x.out, x.peers = out, pe
			}
			if task != nil {
				ok, err := tx.DeleteTask(ctx, task.ID, task.Attempts)
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
			ev, err := mkEvent(x)
			if err != nil {
				return err
			}
			stored := *x.job
			x, err = interpret(x, func() (*txn, error) {
				job := stored
				return e.resume(prog, &job, children)
			}, x.readPeers, func(x *txn) error {
				if err := x.on(ev); err != nil {
					return err
				}
				x.drain()
				return nil
			})
			if err != nil {
				return err
			}
			if x.ended {
				ended = x.job
			}
			committed, after, spawned, done = x.job, x.in, x.spawned, x
			return x.save()
		})
		if snap != nil && errors.Is(err, store.ErrChanged) {
			snap = nil // touched since it was read: lock it this time
			return errRerun
		}
		return err
	})
	if err != nil {
		out.release()
	} else {
		out.deliver(committed)
	}
	if errors.Is(err, errStale) || errors.Is(err, store.ErrTaskGone) {
		return nil
	}
	if err == nil && ended == nil && after != nil && e.running.has(jobID) {
		// Threads this transition stopped (a cancelled hook) stop their
		// activities running here; other workers see it at their next poll.
		e.running.cancelStopped(jobID, after)
	}
	if err == nil && committed != nil {
		e.committed(committed, spawned, began)
	}
	if err == nil && ended != nil {
		e.ended(ended)
		if ended.Status != store.StatusCompleted {
			e.running.cancelJob(ended.ID)
		}
	}
	if err == nil && done != nil {
		// After the waiters are told: a span never delays a result.
		e.traceTransition(done, kind, began, trace.SpanContext{})
	}
	return err
}

// committed logs and counts a committed transition of job, begun at began,
// and the children it started (spawned: their workflows).
func (e *Engine) committed(job *store.Job, spawned []string, began time.Time) {
	e.commits.committed(job.ID)
	took := time.Since(began)
	if e.log.Enabled(context.Background(), slog.LevelDebug) {
		e.log.Debug("transition committed", "workflow", job.Flow, "id", job.ID, "status", job.Status, "took", took)
	}
	e.met.Transition(job.Flow, took)
	for _, w := range spawned {
		e.met.Started(w)
	}
}

// eventOf is the event a task brings to the locked instance, with what the
// committer reads for it (for a signal, the instance's other signal tasks,
// taken in this transaction); the interpreter then applies it (on).
func (x *txn) eventOf(task *store.Task, p payload) (event, error) {
	ev := event{Kind: task.Kind, P: p}
	if task.Kind == taskSignal {
		sigs, err := x.takeSignals(*task, p)
		if err != nil {
			return ev, err
		}
		ev.Signals = sigs
	}
	return ev, nil
}

// takeSignals returns task's signal together with every other signal task
// of the instance (which it deletes), in the order they were sent: by the
// time they were enqueued, then by their place in the sending transition.
// Signals sent to one instance are thus delivered in commit order, however
// workers claim their tasks (a claim holding one of the others finds it
// gone).
func (x *txn) takeSignals(task store.Task, p payload) ([]payload, error) {
	others, err := x.tx.TakeTasks(x.ctx, x.job.ID, taskSignal)
	if err != nil {
		return nil, err
	}
	type sent struct {
		at time.Time
		p  payload
	}
	all := []sent{{task.DueAt, p}}
	for _, o := range others {
		var op payload
		if err := json.Unmarshal(o.Payload, &op); err != nil {
			x.e.log.Error("drop signal task with bad payload", "task", o.ID, "id", o.JobID, "err", err)
			continue
		}
		all = append(all, sent{o.DueAt, op})
	}
	sort.SliceStable(all, func(i, j int) bool {
		if !all[i].at.Equal(all[j].at) {
			return all[i].at.Before(all[j].at)
		}
		return all[i].p.Seq < all[j].p.Seq
	})
	out := make([]payload, len(all))
	for i, s := range all {
		out[i] = s.p
	}
	return out, nil
}

// runningStep names the step the main thread is at, for errors that end
// the instance from outside any step.
func (x *txn) runningStep() string {
	if m := x.in.Threads[threadMain]; m != nil {
		if s := x.state(m); s != nil {
			return s.Label
		}
	}
	return ""
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
			// The output is the time slept, in whole milliseconds: from
			// the transition that began the sleep to this one.
			var slept int64
			if p.Since != 0 {
				slept = max(0, x.now.Sub(time.Unix(0, p.Since)).Milliseconds())
			}
			x.complete(t, s, int(slept))
		}
	case timerWait:
		if t, s := x.at(p.Thread, p.Tick, waitSignal); t != nil {
			x.failStep(t, s, &stepError{Message: fmt.Sprintf("wait for signal %q timed out", t.Signal), Type: "Timeout"})
		}
	}
}

func (e *Engine) dropTask(task store.Task) {
	_, err := withDB(e, func(ctx context.Context) (bool, error) {
		return false, e.st.InTx(ctx, func(tx store.Tx) error {
			_, err := tx.DeleteTask(ctx, task.ID, task.Attempts)
			return err
		})
	})
	if err != nil && !errors.Is(err, store.ErrTaskGone) {
		e.log.Warn("drop task", "task", task.ID, "id", task.JobID, "err", err)
	}
}

// retryLater puts a task whose handling failed back on the queue. An
// infrastructure failure (store.IsTransient) does not count the claim as an
// attempt and comes back after a short delay; any other failure counts and
// backs off with the attempts. If even that write fails, lease expiry brings
// the task back.
func (e *Engine) retryLater(task store.Task, cause error) {
	if store.IsTransient(cause) {
		e.met.StoreRetry()
		e.log.Warn("task failed on the database; retrying", "task", task.ID, "id", task.JobID, "kind", task.Kind, "err", cause)
		e.release(task, 200*time.Millisecond)
		return
	}
	delay := backoff(&compiler.Retry{InitialMS: 200, Coefficient: 2, MaxMS: 30000}, task.Attempts)
	e.log.Warn("task failed; retrying", "task", task.ID, "id", task.JobID, "kind", task.Kind, "in", delay, "err", cause)
	_, err := withDB(e, func(ctx context.Context) (bool, error) {
		return false, e.st.InTx(ctx, func(tx store.Tx) error {
			return tx.RescheduleTask(ctx, task.ID, e.now().Add(delay))
		})
	})
	if err != nil {
		e.log.Warn("reschedule task", "task", task.ID, "err", err)
	}
}

// release hands a claimed task back to the queue, due after delay, without
// counting the claim as an attempt; if that fails, its lease expires.
func (e *Engine) release(task store.Task, delay time.Duration) {
	_, err := withDB(e, func(ctx context.Context) (bool, error) {
		return false, e.st.InTx(ctx, func(tx store.Tx) error {
			_, err := tx.ReleaseTask(ctx, task.ID, task.Attempts, e.now().Add(delay))
			return err
		})
	})
	if err != nil {
		e.log.Warn("release task", "task", task.ID, "err", err)
	}
}
