package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

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
	e.workers.Add(1)
	defer e.workers.Add(-1)
	// Activities outlive ctx by the grace period.
	actCtx, actCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer actCancel()
	done := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	inflight := 0
	failures := 0
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
		}
		if free := cfg.Concurrency - inflight; free > 0 && claim {
			if inflight > 0 {
				// Busy: let wakeups gather for a moment so one claim (one
				// commit) takes several tasks.
				pause(ctx, claimGap-time.Since(lastClaim))
			}
			claim = false
			lastClaim = time.Now()
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
	e.commitTask(dbctx, task, prog, func(x *txn) error {
		return x.apply(task.Kind, p)
	})
}

// commitTask runs apply as task's transition, with the programs of the
// workflows prog may start as children. A child resolved from this engine's
// memory that no longer serves (another process loaded or removed it) aborts
// the transition; it runs again at once with the child resolved afresh.
// Other failures reschedule the task.
func (e *Engine) commitTask(ctx context.Context, task store.Task, prog *program, apply func(x *txn) error) {
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		var children childSet
		if children, err = e.childPrograms(ctx, prog); err != nil {
			break
		}
		if err = e.transition(ctx, &task, prog, children, apply); !errors.Is(err, errStaleServing) {
			break
		}
	}
	if err != nil {
		e.retryLater(ctx, task, err)
	}
}

// childPrograms resolves the workflows prog may start as children.
func (e *Engine) childPrograms(ctx context.Context, prog *program) (childSet, error) {
	if len(prog.Children) == 0 {
		return nil, nil
	}
	out := make(childSet, len(prog.Children))
	for _, name := range prog.Children {
		cp, err := e.startProgram(ctx, name) // confirmed by the child step (txn.child)
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

// transition runs apply on the locked instance and commits it together with
// the deletion of task (nil: none). A task another worker already handled is
// ignored.
func (e *Engine) transition(ctx context.Context, task *store.Task, prog *program, children childSet, apply func(x *txn) error) error {
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
