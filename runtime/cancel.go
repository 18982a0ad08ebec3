package runtime

import (
	"fmt"

	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/internal/store"
)

// cancelStep runs a cancel step: it cancels another instance (through a
// cancel task on it: one transaction never locks two instances), this
// instance, or stops the running runs of one of this instance's hooks.
func (x *txn) cancelStep(t *thread, s *compiler.State, env *compiler.Env) error {
	if s.Hook != "" {
		return x.cancelHooks(t, s)
	}
	v, err := s.To.Eval(env)
	if err != nil {
		return err
	}
	id := stringOf(v)
	reason := fmt.Sprintf("cancelled by workflow %q step %s", x.job.ID, s.Label)
	if id == x.job.ID {
		x.complete(t, s, map[string]any{"id": id, "status": store.StatusRunning})
		x.cancel(reason)
		return nil
	}
	target, known := x.peer(id)
	switch {
	case !known:
		return x.need(id)
	case target == nil:
		return typed("CancelError", "%s: cancel workflow %q: no such workflow", s.Pos, id)
	}
	if target.Status == store.StatusRunning {
		x.tasks = append(x.tasks, store.Task{JobID: id, Queue: target.TaskQueue, Kind: taskCancel,
			Payload: mustJSON(payload{Error: reason})})
	}
	x.complete(t, s, map[string]any{"id": id, "status": target.Status})
	return nil
}

// cancelHooks stops every running run of hook s.Hook on this instance
// (started by a step or from outside), except the run executing s: a step
// awaiting a stopped run fails with type Cancelled. Its output is how many
// runs it stopped.
func (x *txn) cancelHooks(t *thread, s *compiler.State) error {
	own := t
	for own.Kind == threadBranch {
		p := x.in.Threads[own.Parent]
		if p == nil {
			break
		}
		own = p
	}
	n := 0
	for _, h := range x.in.threadsByNum() {
		if h.Kind != threadHook || h.Graph != s.Hook || h == own || x.in.Threads[h.ID] != h {
			continue
		}
		n++
		x.threadFailed(h, &stepError{Type: "Cancelled", Step: s.Label,
			Message: fmt.Sprintf("hook %s cancelled by step %s", s.Hook, s.Label)})
	}
	if x.in.Threads[t.ID] == t && !x.ended {
		x.complete(t, s, map[string]any{"stopped": n})
	}
	return nil
}
