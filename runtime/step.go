package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/internal/store"
)

// step runs the state t is at (t was just moved there).
func (x *txn) step(t *thread) {
	s := x.state(t)
	if s == nil {
		x.threadFailed(t, &stepError{Message: fmt.Sprintf("thread %s is at unknown state %d of %q", t.ID, t.State, t.Graph), Type: "InternalError"})
		return
	}
	env := x.env(t)
	fail := func(err error) {
		if errors.Is(err, errParked) {
			return // the step runs again once the committer read what it needs (need)
		}
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
	case compiler.KCancel:
		err = x.cancelStep(t, s, env)
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
	// An error that names its own type, anywhere in the chain (such as the
	// compiler's LimitError, "LimitExceeded").
	var named interface{ ErrorType() string }
	if errors.As(err, &named) {
		return named.ErrorType()
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
	doc, ops, err := store.ApplyCommandsPatch(doc, cmds)
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
		return typed("CommandError", "%s: entity: %v", s.Pos, err)
	}
	if x.prog.entity != nil {
		if err := x.prog.entity.Validate(ent); err != nil {
			return typed("SchemaError", "%s: entity %s no longer matches its schema: %s", s.Pos, x.job.Entity, schemaProblems("entity", err))
		}
	}
	var patch json.RawMessage
	if len(ops) > 0 {
		if patch, err = json.Marshal(ops); err != nil {
			return err
		}
	}
	x.entity, x.entityJSON = ent, b
	x.did = rendered(x.prog.descs[s], s.Commands, cmds)
	n := len(x.events)
	x.complete(t, s, commandOutput(ent, cmds))
	if n < len(x.events) {
		x.events[n].Patch = patch // the step's row: what it changed
	}
	return nil
}

// rendered is desc, the step's description, with each templated command
// path replaced by the path it evaluated to ("increment byName.${ item }"
// becomes "increment byName.ana"); "" when no path is templated.
func rendered(desc string, cs []compiler.Command, cmds []store.Command) string {
	out := desc
	for i, c := range cs {
		if c.Path == nil {
			continue
		}
		if src := fmt.Sprint(c.Path.Raw); strings.Contains(src, "${") {
			out = strings.Replace(out, src, cmds[i].Path, 1)
		}
	}
	if out == desc {
		return ""
	}
	return out
}

// commandOutput is a command step's output: the value at its command's
// path in the document after the step (the whole document for set and
// merge without a path; null where nothing is left, as after delete), or,
// for a step of several commands, a map from each path to its value.
func commandOutput(doc any, cmds []store.Command) any {
	at := func(path string) any {
		v, ok, err := store.Get(doc, path)
		if err != nil || !ok {
			return nil
		}
		return v
	}
	if len(cmds) == 1 {
		return at(cmds[0].Path)
	}
	out := make(map[string]any, len(cmds))
	for _, c := range cmds {
		out[c.Path] = at(c.Path)
	}
	return out
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
	if s.MaxIterations > 0 && n >= s.MaxIterations && s.MaxIterations <= x.e.lim.MaxLoopIterations {
		delete(t.Loops, s.N)
		return typed("MaxIterations", "%s: while loop exceeded maxIterations %d", s.Pos, s.MaxIterations)
	}
	if n >= x.e.lim.MaxLoopIterations {
		delete(t.Loops, s.N)
		return typed("LimitExceeded", "%s: while loop ran %d iterations, the engine's limit (Limits.MaxLoopIterations)", s.Pos, n)
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
		x.mainEnded(root, &returned{Value: v})
	case threadHook:
		x.finishThread(root, v)
	default:
		x.finishThread(t, v)
	}
	return nil
}
