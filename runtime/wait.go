package runtime

import (
	"errors"
	"fmt"
	"time"

	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/internal/store"
)

// This file holds the steps that wait on something outside the thread:
// signals, timers and child workflows.

func (x *txn) awaitSignal(t *thread, s *compiler.State, name string) {
	if data, ok := x.takeSignal(name); ok {
		x.complete(t, s, data)
		return
	}
	t.Wait, t.Signal = waitSignal, name
}

func (x *txn) wait(t *thread, s *compiler.State, env *compiler.Env) error {
	name, err := s.Signal.Eval(env)
	if err != nil {
		return err
	}
	timeout := time.Duration(s.TimeoutMS) * time.Millisecond
	if s.Timeout != nil {
		if timeout, err = evalDuration(s.Timeout, env); err != nil {
			return err
		}
	}
	x.awaitSignal(t, s, stringOf(name))
	if t.Wait == waitSignal && timeout > 0 {
		x.task(taskTimer, payload{Thread: t.ID, Tick: t.Tick, Timer: timerWait}, x.now.Add(timeout))
	}
	return nil
}

func (x *txn) signal(t *thread, s *compiler.State, env *compiler.Env) error {
	nv, err := s.Signal.Eval(env)
	if err != nil {
		return err
	}
	name := stringOf(nv)
	data, raw, err := evalJSON(s.Data, env)
	if err != nil {
		return err
	}
	to := x.job.ID
	if s.To != nil {
		v, err := s.To.Eval(env)
		if err != nil {
			return err
		}
		to = stringOf(v)
	}
	if to == x.job.ID {
		x.complete(t, s, nil)
		x.deliverSignal(name, data)
		return nil
	}
	// What is known of the target was read in this transaction without
	// locking it (one transaction never locks two instances): a target that
	// ends after that read drops the signal, a race Engine.Signal has too.
	target, known := x.peer(to)
	if !known {
		return x.need(to)
	}
	if target == nil {
		// No instance holds the id yet: keep the signal for one that starts
		// within Limits.PendingSignalTTL (at commit, so it is kept only if
		// the step commits; if one was created meanwhile, the transition
		// runs again and delivers to it).
		if err := CheckID(to); err != nil {
			return typed("SignalUndeliverable", "%s: signal %q not delivered: %v", s.Pos, name, err)
		}
		if len(raw) > store.MaxDocumentBytes {
			return typed("SignalUndeliverable", "%s: signal %q to workflow %q not kept: its data has %d bytes: %v (limit %d bytes)",
				s.Pos, name, to, len(raw), store.ErrTooLarge, store.MaxDocumentBytes)
		}
		x.keeps = append(x.keeps, x.e.pending(to, name, raw, x.now))
		x.complete(t, s, nil)
		return nil
	}
	if target.Status != store.StatusRunning {
		return typed("SignalUndeliverable", "%s: signal %q to workflow %q not delivered: the workflow is %s", s.Pos, name, to, target.Status)
	}
	x.complete(t, s, nil)
	x.sigSeq++
	x.tasks = append(x.tasks, store.Task{JobID: to, Queue: target.TaskQueue, Kind: taskSignal,
		Payload: mustJSON(payload{Name: name, Data: raw, Seq: x.sigSeq})})
	return nil
}

// evalDuration reads a duration template: a Go duration string or a number
// of milliseconds.
func evalDuration(v *compiler.Value, env *compiler.Env) (time.Duration, error) {
	out, err := v.Eval(env)
	if err != nil {
		return 0, err
	}
	switch d := out.(type) {
	case string:
		dd, err := time.ParseDuration(d)
		if err != nil {
			return 0, typed("ValueError", "%s: %q is not a duration (like 500ms, 10s, 1h30m)", v.Pos, d)
		}
		return dd, nil
	case time.Duration:
		return d, nil
	case int:
		return time.Duration(d) * time.Millisecond, nil
	case float64:
		return time.Duration(d * float64(time.Millisecond)), nil
	}
	return 0, typed("ValueError", "%s: %s is not a duration", v.Pos, describe(out))
}

func (x *txn) sleep(t *thread, s *compiler.State, env *compiler.Env) error {
	due := x.now.Add(time.Duration(s.DurationMS) * time.Millisecond)
	switch {
	case s.Duration != nil:
		d, err := evalDuration(s.Duration, env)
		if err != nil {
			return err
		}
		due = x.now.Add(d)
	case s.Until != nil:
		v, err := s.Until.Eval(env)
		if err != nil {
			return err
		}
		switch u := v.(type) {
		case time.Time:
			due = u
		case string:
			tt, err := time.Parse(time.RFC3339Nano, u)
			if err != nil {
				return typed("ValueError", "%s: sleep until %q: not an RFC 3339 time", s.Pos, u)
			}
			due = tt
		default:
			return typed("ValueError", "%s: sleep until %s: not a time", s.Pos, describe(v))
		}
	}
	if !due.After(x.now) {
		x.complete(t, s, 0) // slept 0 ms
		return nil
	}
	x.task(taskTimer, payload{Thread: t.ID, Tick: t.Tick, Timer: timerSleep, Since: x.now.UnixNano()}, due)
	t.Wait = waitSleep
	return nil
}

// childSet is what the child steps of a program may start, by workflow
// name (resolver.children).
type childSet map[string]childProgram

// childProgram is a child workflow's newest program, or why none starts.
type childProgram struct {
	p   *program
	err error // ErrNotFound, or a *RetiredError when it left the flows
}

func (x *txn) child(t *thread, s *compiler.State, env *compiler.Env) error {
	c := x.children[s.Workflow]
	cp := c.p
	if cp == nil {
		if re := (*RetiredError)(nil); errors.As(c.err, &re) {
			return typed("ChildError", "%s: child %w", s.Pos, re)
		}
		return typed("ChildError", "%s: workflow %q is neither loaded nor stored", s.Pos, s.Workflow)
	}
	id := "" // the next default id (startChild)
	if s.WorkflowID != nil {
		v, err := s.WorkflowID.Eval(env)
		if err != nil {
			return err
		}
		id = stringOf(v)
		if err := CheckID(id); err != nil {
			return typed("ChildError", "%s: child %v", s.Pos, err)
		}
	}
	args, raw, err := evalJSON(s.Args, env)
	if err != nil {
		return err
	}
	if sch := cp.inputs[""]; sch != nil {
		if err := sch.Validate(args); err != nil {
			return typed("ValidationError", "%s: child %s arguments: %s", s.Pos, s.Workflow, schemaProblems("input", err))
		}
	}
	await := s.Await == nil || *s.Await
	var link *parentLink
	if await {
		link = &parentLink{Job: x.job.ID, Queue: x.job.TaskQueue, Thread: t.ID, Tick: t.Tick}
	}
	id, created, err := x.startChild(s, cp, id, args, raw, link)
	if err != nil || x.ended {
		return err
	}
	if !created {
		// Idempotent start: the step joins the existing instance.
		return x.joinChild(t, s, id, await, link)
	}
	x.in.Children = append(x.in.Children, childRef{ID: id, Queue: queueOf(cp), Detached: !await})
	if !await {
		x.complete(t, s, map[string]any{"id": id})
		return nil
	}
	t.Wait = waitChild
	return nil
}

// maxDefaultIDTries bounds how many default ids a child step tries when the
// next ones are taken (by instances that chose such an id explicitly, or
// that an instance started before default ids were numbered per instance).
const maxDefaultIDTries = 100

// startChild starts the child instance of step s at commit (a spawn),
// counted against the descendants of this instance's root. id "" takes the
// next default id, `<parent id>.<step label>.<n>` with n numbering the
// default-id children of this instance, so every branch, iteration and hook
// run starts its own child; a default id known to be taken is skipped (one
// found taken at commit runs the transition again). A taken explicit id
// returns false, counting nothing: the step joins that instance, whatever
// the tree's limits. In a tree that CancelTree closed, it cancels this
// instance instead of starting one.
func (x *txn) startChild(s *compiler.State, cp *program, id string, args any, raw []byte, link *parentLink) (string, bool, error) {
	lim := x.e.lim
	pos := treePos{root: x.job.Root, parent: x.job.ID, depth: x.job.Depth + 1}
	if pos.root == "" {
		pos.root = x.job.ID
	}
	if id != "" {
		// Joining an existing instance counts nothing.
		j, known := x.peer(id)
		if !known {
			return id, false, x.need(id)
		}
		if j != nil {
			return id, false, nil
		}
	}
	if pos.depth > lim.MaxDepth {
		return id, false, typed("LimitExceeded", "%s: child %s not started: it would be %d levels below its root workflow %q (limit %d)",
			s.Pos, s.Workflow, pos.depth, pos.root, lim.MaxDepth)
	}
	if f, known := x.peers.tree(pos.root); known {
		if f.closed {
			// CancelTree is cancelling this tree: this instance goes too.
			x.cancel(treeCancelled(pos.root))
			return id, false, nil
		}
		if n := f.count + x.spawnsUnder(pos.root); n >= lim.MaxDescendants {
			return id, false, typed("LimitExceeded", "%s: child %s not started: root workflow %q already started %d descendants (limit %d)",
				s.Pos, s.Workflow, pos.root, n, lim.MaxDescendants)
		}
	}
	cid := id
	for try := 1; id == ""; try++ {
		x.in.NextChild++
		cid = fmt.Sprintf("%s.%s.%d", x.job.ID, s.Label, x.in.NextChild)
		if len(cid) > MaxIDBytes {
			return cid, false, typed("ChildError", "%s: default child workflow id %q exceeds %d bytes: give the step a shorter workflowId", s.Pos, cid, MaxIDBytes)
		}
		if j, _ := x.peer(cid); j == nil {
			break // free, or not known to be taken
		}
		if try == maxDefaultIDTries {
			return cid, false, typed("ChildError", "%s: no free default child workflow id after %d tries (last %q): give the step a workflowId", s.Pos, try, cid)
		}
	}
	x.spawns = append(x.spawns, spawn{cp: cp, id: cid, args: args, raw: raw, link: link, pos: pos,
		job: &store.Job{ID: cid, Flow: cp.Name, Status: store.StatusRunning, TaskQueue: queueOf(cp)}})
	x.spawned = append(x.spawned, cp.Name)
	return cid, true, nil
}

// joinChild makes a child step whose workflow id already exists use that
// instance: its result when it ended, else it notifies this step when it
// does (told at commit, where the child row is locked after the parent's: a
// child never locks its parent, so the order cannot cycle).
func (x *txn) joinChild(t *thread, s *compiler.State, id string, await bool, link *parentLink) error {
	if id == x.job.ID {
		return typed("ChildError", "%s: a workflow cannot start itself as its child", s.Pos)
	}
	child, _ := x.peer(id)
	if child.Flow != s.Workflow {
		return typed("IDTaken", "%s: %v", s.Pos, &IDTakenError{ID: id, Workflow: child.Flow})
	}
	if !await {
		x.complete(t, s, map[string]any{"id": id})
		return nil
	}
	switch child.Status {
	case store.StatusCompleted:
		res, err := decodeValue(child.Result)
		if err != nil {
			return err
		}
		x.complete(t, s, res)
		return nil
	case store.StatusRunning:
	default:
		return typed("ChildFailed", "%s: child workflow %q %s: %s", s.Pos, id, child.Status, child.Error)
	}
	x.watches = append(x.watches, watch{id: id, link: *link})
	t.Wait = waitChild
	return nil
}
