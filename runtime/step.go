package runtime

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/internal/store"
)

// maxBranches bounds the branches one forEach step may start.
const maxBranches = 10000

// step runs the state t is at (t was just moved there).
func (x *txn) step(t *thread) {
	s := x.state(t)
	if s == nil {
		x.threadFailed(t, &stepError{Message: fmt.Sprintf("thread %s is at unknown state %d of %q", t.ID, t.State, t.Graph), Type: "InternalError"})
		return
	}
	env := x.env(t)
	fail := func(err error) {
		x.failStep(t, s, &stepError{Message: err.Error(), Type: errorType(err)})
	}
	if s.When != nil && !(s.Kind == compiler.KWhile && t.Loops[s.N] > 0) {
		ok, err := evalBool(s.When, env)
		if err != nil {
			fail(err)
			return
		}
		if !ok {
			if s.ID != "" {
				t.Steps[s.ID] = nil
			}
			x.event("skipped", t, s, map[string]any{"tick": t.Tick})
			x.goTo(t, s.Next)
			return
		}
	}
	var err error
	switch s.Kind {
	case compiler.KCommand:
		err = x.commands(t, s, env)
	case compiler.KActivity:
		err = x.activity(t, s, env)
	case compiler.KHook:
		err = x.hook(t, s, env)
	case compiler.KParallel:
		x.parallel(t, s)
	case compiler.KForEach:
		err = x.forEach(t, s, env)
	case compiler.KWait:
		err = x.wait(t, s, env)
	case compiler.KSignal:
		err = x.signal(t, s, env)
	case compiler.KSleep:
		err = x.sleep(t, s, env)
	case compiler.KChild:
		err = x.child(t, s, env)
	case compiler.KIf:
		var ok bool
		if ok, err = evalBool(s.Cond, env); err == nil {
			x.branchTo(t, s, pick(ok, s.Then, s.Else))
		}
	case compiler.KSwitch:
		err = x.switchStep(t, s, env)
	case compiler.KWhile:
		err = x.while(t, s, env)
	case compiler.KTry:
		x.branchTo(t, s, pick(s.Body != compiler.End, s.Body, s.Next))
	case compiler.KReturn:
		err = x.ret(t, s, env)
	case compiler.KFail:
		var v any
		if v, err = s.Value.Eval(env); err == nil {
			x.failStep(t, s, &stepError{Message: stringOf(v), Type: "Fail"})
		}
	default:
		err = fmt.Errorf("unknown step kind %q", s.Kind)
	}
	if err != nil {
		fail(err)
	}
}

func pick(c bool, a, b int) int {
	if c {
		return a
	}
	return b
}

// branchTo records a control step (output null) and moves t to n.
func (x *txn) branchTo(t *thread, s *compiler.State, n int) {
	if s.ID != "" {
		t.Steps[s.ID] = nil
	}
	x.event("step", t, s, map[string]any{"tick": t.Tick, "iteration": t.Visits[s.N], "next": n})
	x.goTo(t, n)
}

// typedError carries the error type flows see in `error.type`.
type typedError struct {
	typ string
	err error
}

func (e *typedError) Error() string { return e.err.Error() }
func (e *typedError) Unwrap() error { return e.err }

func typed(typ string, format string, args ...any) error {
	return &typedError{typ: typ, err: fmt.Errorf(format, args...)}
}

func errorType(err error) string {
	if te, ok := err.(*typedError); ok {
		return te.typ
	}
	return "ExpressionError"
}

func evalBool(e *compiler.Expr, env *compiler.Env) (bool, error) {
	v, err := e.Eval(env)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, typed("TypeError", "%s: expression %q gave %s, want a boolean", e.Pos, e.Src, describe(v))
	}
	return b, nil
}

func describe(v any) string {
	if v == nil {
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil || len(b) > 80 {
		return fmt.Sprintf("a %T", v)
	}
	return string(b)
}

func stringOf(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case nil:
		return ""
	case int:
		return strconv.Itoa(t)
	case float64:
		return strconv.FormatFloat(t, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(t)
	}
	return string(mustJSON(v))
}

// evalJSON evaluates a template into its stored form.
func evalJSON(v *compiler.Value, env *compiler.Env) (any, []byte, error) {
	out, err := v.Eval(env)
	if err != nil {
		return nil, nil, err
	}
	val, raw, err := jsonify(out)
	if err != nil {
		return nil, nil, typed("ValueError", "%s: %v", v.Pos, err)
	}
	return val, raw, nil
}

func (x *txn) commands(t *thread, s *compiler.State, env *compiler.Env) error {
	cmds := make([]store.Command, 0, len(s.Commands))
	for _, c := range s.Commands {
		var path string
		if c.Path != nil {
			p, err := c.Path.Eval(env)
			if err != nil {
				return err
			}
			path = stringOf(p)
		}
		var val any
		if c.Value != nil {
			v, _, err := evalJSON(c.Value, env)
			if err != nil {
				return err
			}
			val = v
		}
		cmds = append(cmds, store.Command{Op: store.Op(c.Op), Path: path, Value: val})
	}
	doc, err := decodeValue(x.entityJSON)
	if err != nil {
		return err
	}
	doc, err = store.ApplyCommands(doc, cmds)
	if err != nil {
		return typed("CommandError", "%s: %v", s.Pos, err)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return typed("CommandError", "%s: entity is not JSON: %v", s.Pos, err)
	}
	if len(b) > MaxPayload {
		return typed("CommandError", "%s: entity of %d bytes exceeds the %d byte limit", s.Pos, len(b), MaxPayload)
	}
	ent, err := decodeValue(b)
	if err != nil {
		return err
	}
	if x.prog.entity != nil {
		if err := x.prog.entity.Validate(ent); err != nil {
			return typed("SchemaError", "%s: entity %s no longer matches its schema: %v", s.Pos, x.job.Entity, err)
		}
	}
	x.entity, x.entityJSON = ent, b
	x.complete(t, s, nil)
	return nil
}

func (x *txn) activity(t *thread, s *compiler.State, env *compiler.Env) error {
	_, raw, err := evalJSON(s.Args, env)
	if err != nil {
		return err
	}
	timeout := s.TimeoutMS
	if s.Timeout != nil {
		d, err := evalDuration(s.Timeout, env)
		if err != nil {
			return err
		}
		timeout = d.Milliseconds()
	}
	x.task(taskActivity, payload{Thread: t.ID, Tick: t.Tick, Args: raw, TimeoutMS: timeout}, time.Time{})
	t.Wait = waitActivity
	return nil
}

// spawnHook starts hook name on this instance's entity.
func (x *txn) spawnHook(name string, args any, parent *thread, slot int) (*thread, error) {
	g := x.prog.Hooks[name]
	if g == nil {
		return nil, typed("HookError", "no hook %q in workflow %s", name, x.prog.Name)
	}
	if sch := x.prog.inputs[name]; sch != nil {
		if err := sch.Validate(args); err != nil {
			return nil, typed("ValidationError", "hook %s arguments: %v", name, err)
		}
	}
	h := x.in.newThread(threadHook, name, g.Entry, args)
	if parent != nil {
		h.Parent, h.Slot = parent.ID, slot
	}
	if g.TimeoutMS > 0 {
		x.task(taskTimer, payload{Thread: h.ID, Timer: timerHook}, x.now.Add(time.Duration(g.TimeoutMS)*time.Millisecond))
	}
	x.event("hook-started", h, nil, map[string]any{"hook": name, "input": args})
	x.runnable = append(x.runnable, h.ID)
	return h, nil
}

func (x *txn) hook(t *thread, s *compiler.State, env *compiler.Env) error {
	args, _, err := evalJSON(s.Args, env)
	if err != nil {
		return err
	}
	await := s.Await == nil || *s.Await
	var parent *thread
	if await && s.Signal == nil {
		parent = t
	}
	var name string
	if await && s.Signal != nil {
		v, err := s.Signal.Eval(env)
		if err != nil {
			return err
		}
		name = stringOf(v)
	}
	h, err := x.spawnHook(s.Hook, args, parent, -1)
	if err != nil {
		return err
	}
	switch {
	case !await:
		x.complete(t, s, nil)
	case s.Signal != nil:
		x.awaitSignal(t, s, name)
		if t.Wait == waitSignal {
			// The hook's failure still fails this step while it waits.
			h.Notify, h.NotifyTick = t.ID, t.Tick
		}
	default:
		t.Wait = waitHook
	}
	return nil
}

// fork starts a branch thread of t at entry.
func (x *txn) fork(t *thread, s *compiler.State, entry, slot int, vars map[string]any) *thread {
	b := x.in.newThread(threadBranch, t.Graph, entry, t.Input)
	for k, v := range t.Steps {
		b.Steps[k] = v
	}
	b.Vars = vars
	b.Parent, b.Slot, b.BaseCatch = t.ID, slot, s.Catch
	x.runnable = append(x.runnable, b.ID)
	return b
}

func (x *txn) parallel(t *thread, s *compiler.State) {
	if len(s.Branches) == 0 {
		x.complete(t, s, []any{})
		return
	}
	t.Join = &join{Results: make([]any, len(s.Branches)), Running: len(s.Branches)}
	t.Wait = waitJoin
	for i, entry := range s.Branches {
		if entry == compiler.End {
			t.Join.Running--
			continue
		}
		x.fork(t, s, entry, i, copyVars(t.Vars))
	}
	if t.Join.Running == 0 {
		t.Join = nil
		x.complete(t, s, make([]any, len(s.Branches)))
	}
}

func copyVars(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+2)
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (x *txn) forEach(t *thread, s *compiler.State, env *compiler.Env) error {
	v, err := s.Items.Eval(env)
	if err != nil {
		return err
	}
	v, _, err = jsonify(v)
	if err != nil {
		return typed("ValueError", "%s: forEach items: %v", s.Pos, err)
	}
	var items []any
	switch l := v.(type) {
	case nil:
	case []any:
		items = l
	default:
		return typed("TypeError", "%s: forEach %q gave %s, want a list", s.Items.Pos, s.Items.Src, describe(v))
	}
	if len(items) > maxBranches {
		return typed("ValueError", "%s: forEach over %d items exceeds the limit of %d", s.Pos, len(items), maxBranches)
	}
	if len(items) == 0 {
		x.complete(t, s, []any{})
		return nil
	}
	t.Join = &join{Results: make([]any, len(items)), Items: items}
	t.Wait = waitJoin
	x.startItems(t, s)
	return nil
}

// startItems starts forEach branches up to the concurrency bound.
func (x *txn) startItems(t *thread, s *compiler.State) {
	j := t.Join
	for j.Next < len(j.Items) && (s.Concurrency <= 0 || j.Running < s.Concurrency) {
		i := j.Next
		j.Next++
		j.Running++
		vars := copyVars(t.Vars)
		vars[nameOr(s.As, "item")] = j.Items[i]
		vars[nameOr(s.IndexAs, "index")] = i
		if s.Hook == "" {
			x.fork(t, s, s.Body, i, vars)
			continue
		}
		env := x.env(t)
		env.Vars = vars
		args, _, err := evalJSON(s.Args, env)
		if err == nil {
			_, err = x.spawnHook(s.Hook, args, t, i)
		}
		if err != nil {
			j.Running--
			if j.Failed == nil {
				j.Failed = &stepError{Message: err.Error(), Type: errorType(err), Step: s.Label}
			}
			j.Next = len(j.Items)
			if j.Running == 0 {
				t.Join = nil
				x.failStep(t, s, j.Failed)
			}
			return
		}
	}
}

func nameOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

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
	x.complete(t, s, nil)
	if to == x.job.ID {
		x.deliverSignal(name, data)
		return nil
	}
	target, err := x.tx.GetJob(x.ctx, to, false)
	if err != nil {
		return typed("SignalError", "%s: signal %s to workflow %q: %v", s.Pos, name, to, err)
	}
	x.tasks = append(x.tasks, store.Task{JobID: to, Queue: target.TaskQueue, Kind: taskSignal,
		Payload: mustJSON(payload{Name: name, Data: raw})})
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
		x.complete(t, s, nil)
		return nil
	}
	x.task(taskTimer, payload{Thread: t.ID, Tick: t.Tick, Timer: timerSleep}, due)
	t.Wait = waitSleep
	return nil
}

func (x *txn) child(t *thread, s *compiler.State, env *compiler.Env) error {
	cp := x.children[s.Workflow]
	if cp == nil {
		return typed("ChildError", "%s: workflow %q is neither loaded nor stored", s.Pos, s.Workflow)
	}
	id := fmt.Sprintf("%s.%s.%d", x.job.ID, s.Label, t.Visits[s.N])
	if s.WorkflowID != nil {
		v, err := s.WorkflowID.Eval(env)
		if err != nil {
			return err
		}
		id = stringOf(v)
	}
	if id == "" || len(id) > 200 {
		return typed("ChildError", "%s: child workflow id %q must have 1 to 200 characters", s.Pos, id)
	}
	args, raw, err := evalJSON(s.Args, env)
	if err != nil {
		return err
	}
	if sch := cp.inputs[""]; sch != nil {
		if err := sch.Validate(args); err != nil {
			return typed("ValidationError", "%s: child %s arguments: %v", s.Pos, s.Workflow, err)
		}
	}
	await := s.Await == nil || *s.Await
	var link *parentLink
	if await {
		link = &parentLink{Job: x.job.ID, Queue: x.job.TaskQueue, Thread: t.ID, Tick: t.Tick}
	}
	created, err := x.e.insertJob(x.ctx, x.tx, cp, id, args, raw, link)
	if err != nil {
		return err
	}
	if !created {
		// Idempotent start: the step joins the existing instance.
		return x.joinChild(t, s, id, await, link)
	}
	x.in.Children = append(x.in.Children, childRef{ID: id, Queue: queueOf(cp)})
	if !await {
		x.complete(t, s, map[string]any{"id": id})
		return nil
	}
	t.Wait = waitChild
	return nil
}

// joinChild makes a child step whose workflow id already exists use that
// instance: its result when it ended, else it notifies this step when it
// does (the child row is locked after the parent's: a child never locks its
// parent, so the order cannot cycle).
func (x *txn) joinChild(t *thread, s *compiler.State, id string, await bool, link *parentLink) error {
	if id == x.job.ID {
		return typed("ChildError", "%s: a workflow cannot start itself as its child", s.Pos)
	}
	child, err := x.tx.GetJob(x.ctx, id, await)
	if err != nil {
		return err
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
	in, err := decodeInstance(child.State)
	if err != nil {
		return err
	}
	in.Watchers = append(in.Watchers, *link)
	if child.State, err = json.Marshal(in); err != nil {
		return err
	}
	if err := x.tx.UpdateJob(x.ctx, child); err != nil {
		return err
	}
	t.Wait = waitChild
	return nil
}

func (x *txn) switchStep(t *thread, s *compiler.State, env *compiler.Env) error {
	for _, c := range s.Cases {
		ok, err := evalBool(c.When, env)
		if err != nil {
			return err
		}
		if ok {
			x.branchTo(t, s, c.Entry)
			return nil
		}
	}
	x.branchTo(t, s, s.Default)
	return nil
}

func (x *txn) while(t *thread, s *compiler.State, env *compiler.Env) error {
	ok, err := evalBool(s.Cond, env)
	if err != nil {
		return err
	}
	n := t.Loops[s.N]
	if !ok {
		delete(t.Loops, s.N)
		if s.ID != "" {
			t.Steps[s.ID] = nil
		}
		x.event("step", t, s, map[string]any{"tick": t.Tick, "iterations": n})
		x.goTo(t, s.Next)
		return nil
	}
	if s.MaxIterations > 0 && n >= s.MaxIterations {
		delete(t.Loops, s.N)
		return typed("MaxIterations", "%s: while loop exceeded maxIterations %d", s.Pos, s.MaxIterations)
	}
	if t.Loops == nil {
		t.Loops = map[int]int{}
	}
	t.Loops[s.N] = n + 1
	// One loop iteration: enter the body (or re-test at once when empty).
	x.goTo(t, pick(s.Body != compiler.End, s.Body, s.N))
	return nil
}

// ret ends the run of t's graph with a value: the workflow's result, or the
// hook's result.
func (x *txn) ret(t *thread, s *compiler.State, env *compiler.Env) error {
	v, _, err := evalJSON(s.Value, env)
	if err != nil {
		return err
	}
	x.event("step", t, s, map[string]any{"output": v, "tick": t.Tick})
	root := t
	for root.Kind == threadBranch {
		p := x.in.Threads[root.Parent]
		if p == nil {
			break
		}
		root = p
	}
	switch root.Kind {
	case threadMain:
		x.removeThread(root)
		x.endWorkflow(store.StatusCompleted, v, nil)
	case threadHook:
		x.finishThread(root, v)
	default:
		x.finishThread(t, v)
	}
	return nil
}
