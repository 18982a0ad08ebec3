package runtime

import (
	"fmt"

	"github.com/memflow/memflow/internal/store"
)

// The interpreter. A transition has three parts: the committer takes the
// instance (the copy its task carried, checked by revision at commit, or
// the locked row: begin, beginFrom) and reads what the transition needs
// (the signal tasks to merge, the programs of children it may start); the
// interpreter applies one
// event to the instance in memory (on) and runs its threads until each waits
// or ends (drain); the committer then writes what the interpreter left in
// the txn, its effects: the instance state and entity (seal), the tasks to
// enqueue, the history rows, and what it does to other instances (signals
// kept, children started and watched) (commit). on and drain read no
// database: a step that needs to know another instance parks its thread, and
// the committer reads the instance and runs the event again (interpret in
// peers.go). The table tests in interp_test.go drive them without one.

// Event kinds beside the task kinds (taskRun, taskSignal, taskHook,
// taskCancel, taskChild, taskTimer).
const (
	evOutcome = "outcome" // an activity attempt ended: Result or Err
	evStuck   = "stuck"   // a task was claimed too often without finishing
)

// event is what happens to an instance.
type event struct {
	Kind string
	P    payload
	// Signals, for taskSignal: every signal to deliver, in sent order.
	Signals []payload
	// Attempt, Result and Err, for evOutcome.
	Attempt int
	Result  any
	Err     error
	// Message, for evStuck.
	Message string
}

// on applies ev to the instance. An error means the event could not be
// applied (bad stored data): the transition is abandoned.
func (x *txn) on(ev event) error {
	p := ev.P
	switch ev.Kind {
	case taskRun:
		x.runAll()
	case taskSignal:
		for _, s := range ev.Signals {
			data, err := decodeValue(s.Data)
			if err != nil {
				return fmt.Errorf("signal %s: decode data: %w", s.Name, err)
			}
			x.deliverSignal(s.Name, data)
		}
	case taskHook:
		args, err := decodeValue(p.Data)
		if err != nil {
			return fmt.Errorf("hook %s: decode arguments: %w", p.Name, err)
		}
		if _, err := x.spawnHook(p.Name, args, nil, -1); err != nil {
			x.event("hook-failed", nil, nil, map[string]any{"hook": p.Name, "message": err.Error()})
		}
	case taskCancel:
		reason := "cancelled: parent workflow ended"
		if p.Error != "" {
			reason = p.Error // a cancel step of another instance
		}
		x.cancel(reason)
	case taskChild:
		for i := range x.in.Children {
			if c := &x.in.Children[i]; c.ID == p.Child && !c.Detached {
				c.Ended = true
			}
		}
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
	case evOutcome:
		t, s := x.at(p.Thread, p.Tick, waitActivity)
		if t == nil {
			return nil // the thread moved on (cancelled, timed out)
		}
		if ev.Err == nil {
			x.complete(t, s, ev.Result)
			return nil
		}
		x.activityFailed(t, s, p, ev.Attempt, ev.Err)
	case evStuck:
		x.endWorkflow(store.StatusFailed, nil, &stepError{Type: "InternalError", Step: x.runningStep(), Message: ev.Message})
	default:
		return fmt.Errorf("unknown event kind %q", ev.Kind)
	}
	return nil
}
