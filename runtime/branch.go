package runtime

import (
	"time"

	"github.com/memflow/memflow/compiler"
)

// This file starts threads: hooks, parallel branches and forEach branches.

// maxBranches bounds the branches one forEach step may start.
const maxBranches = 10000

// spawnHook starts hook name on this instance's entity.
func (x *txn) spawnHook(name string, args any, parent *thread, slot int) (*thread, error) {
	g := x.prog.Hooks[name]
	if g == nil {
		return nil, typed("HookError", "no hook %q in workflow %s", name, x.prog.Name)
	}
	if sch := x.prog.inputs[name]; sch != nil {
		if err := sch.Validate(args); err != nil {
			return nil, typed("ValidationError", "hook %s arguments: %s", name, schemaProblems("input", err))
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
