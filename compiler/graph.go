package compiler

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/memflow/memflow/dsl"
)

// Step action keys. forEach may carry `hook`, and hook steps may carry
// `signal`: those are modifiers there, not actions.
var (
	commandOps = []string{"set", "merge", "append", "prepend", "remove", "increment", "multiply", "toggle", "setIfNotExists", "delete"}
	actionKeys = append(append([]string{}, commandOps...),
		"activity", "hook", "parallel", "forEach", "wait", "signal", "sleep", "workflow",
		"if", "switch", "while", "try", "return", "fail", "cancel")
	commonKeys = []string{"id", "when", "name"}
	extraKeys  = map[string][]string{
		"activity": {"args", "timeout", "retry"},
		"hook":     {"args", "signal", "await"},
		"parallel": {"failFast"},
		"forEach":  {"as", "indexAs", "concurrency", "failFast", "hook", "steps", "args", "signal", "await"}, // signal, await: known, to be refused with a reason
		"wait":     {"timeout"},
		"signal":   {"data", "to"},
		"workflow": {"workflowId", "args", "await"},
		"if":       {"then", "else"},
		"while":    {"maxIterations", "steps"},
		"try":      {"catch"},
	}
	idRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
	varRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// builder compiles one workflow or hook into its Graph.
type builder struct {
	c   *loader
	d   *graphDecl
	g   *Graph
	ids map[string]dsl.Node // every step id of the graph
	// input and entity are the declared schemas expressions' input.X and
	// entity.X reads are checked against (nil: not checked; fields.go).
	input, entity *fieldSchema
	// inPath is set while an entity path compiles: a path is text, never
	// an expression look-alike (lookalike.go).
	inPath bool
}

// scope is what expressions at a point of the graph may use.
type scope struct {
	vars  []string          // scoped names: forEach item/index, catch error
	avail map[string]bool   // step ids that can have completed here
	why   map[string]string // ids that cannot, with the reason
}

func (s *scope) clone() *scope {
	n := &scope{vars: append([]string(nil), s.vars...), avail: map[string]bool{}, why: map[string]string{}}
	for k, v := range s.avail {
		n.avail[k] = v
	}
	for k, v := range s.why {
		n.why[k] = v
	}
	return n
}

func (s *scope) withVars(vs ...string) *scope {
	n := s.clone()
	for _, v := range vs {
		if !contains(n.vars, v) {
			n.vars = append(n.vars, v)
		}
	}
	return n
}

func (s *scope) merge(o *scope) {
	for k := range o.avail {
		s.avail[k] = true
	}
}

func (c *loader) compileGraph(d *graphDecl) {
	g := &Graph{Kind: d.kind, Name: d.name, Pos: pos(d.key), TaskQueue: d.taskQueue, Entry: End, States: []*State{}}
	d.graph = g
	what := fmt.Sprintf("%s %q", d.kind, d.name)
	keys := workflowKeys
	if d.kind == "hook" {
		keys = hookKeys
	}
	if !c.mapping(d.node, what, keys) {
		return
	}
	b := &builder{c: c, d: d, g: g, ids: map[string]dsl.Node{}}
	n := d.node
	if d.kind == "workflow" {
		if e, k := n.Get("entity"); !k.Exists() {
			c.errorf(d.key, "%s has no `entity` (the entity type of its instances)", what)
		} else if name, ok := c.str(e, "entity"); ok && c.entities[name] == nil {
			var declared []string
			for n := range c.entities {
				declared = append(declared, n)
			}
			if hint := didYouMean(name, declared); hint != "" {
				c.warnf(e, "entity type %q is not declared in `entities`%s", name, hint)
			}
		} else if ok {
			b.entity = newFieldSchema(c.entities[name].schema)
		}
	}
	if tq, k := n.Get("taskQueue"); k.Exists() {
		if s, ok := c.str(tq, "taskQueue"); ok {
			g.TaskQueue = s
		}
	}
	if in, k := n.Get("input"); k.Exists() {
		g.Input = c.schema(in, "input schema of "+what)
		b.input = newFieldSchema(g.Input)
	}
	if t, k := n.Get("timeout"); k.Exists() {
		g.TimeoutMS, _ = b.duration(t, "timeout", &scope{}, false)
	}
	steps, k := n.Get("steps")
	if !k.Exists() {
		c.errorf(d.key, "%s has no `steps`", what)
		return
	}
	if !b.stepList(steps, what+" steps") {
		return
	}
	b.collectIDs(steps.Items())
	sc := &scope{avail: map[string]bool{}, why: map[string]string{}}
	g.Entry = b.seq(steps.Items(), End, End, sc)
	if r, k := n.Get("result"); k.Exists() {
		g.Result = b.value(r, sc)
	}
}

// stepList checks that n is a non-empty list of steps.
func (b *builder) stepList(n dsl.Node, what string) bool {
	if n.Kind() != dsl.Sequence {
		b.c.errorf(n, "%s must be a list of steps, not %s", what, article(n))
		return false
	}
	if len(n.Items()) == 0 {
		b.c.errorf(n, "%s is empty: give at least one step", what)
		return false
	}
	return true
}

// walkSteps calls fn on every step of steps and of their nested step
// lists (then, else, steps, try, catch, parallel branches, switch cases).
func walkSteps(steps []dsl.Node, fn func(step dsl.Node)) {
	for _, st := range steps {
		if st.Kind() != dsl.Mapping {
			continue
		}
		fn(st)
		for _, p := range st.Pairs() {
			switch p.Key.Text() {
			case "then", "else", "steps", "try", "catch", "parallel":
				walkSteps(p.Value.Items(), fn)
			case "switch":
				for _, arm := range p.Value.Items() {
					for _, key := range []string{"steps", "default"} {
						if s, _ := arm.Get(key); s.Kind() == dsl.Sequence {
							walkSteps(s.Items(), fn)
						}
					}
				}
			}
		}
	}
}

// collectIDs records every step id of the graph, reporting duplicates and
// bad ids.
func (b *builder) collectIDs(steps []dsl.Node) {
	walkSteps(steps, func(st dsl.Node) {
		id, k := st.Get("id")
		if !k.Exists() {
			return
		}
		s, ok := b.c.str(id, "a step id")
		if !ok {
			return
		}
		switch prev, dup := b.ids[s]; {
		case !idRE.MatchString(s):
			b.c.errorf(id, "bad step id %q: use letters, digits, '_' and '-', starting with a letter", s)
		case dup:
			b.c.errorf(id, "duplicate step id %q in %s %q (first at line %d)", s, b.d.kind, b.d.name, prev.Pos().Line)
		default:
			b.ids[s] = id
		}
	})
}

func hasAction(n dsl.Node) bool {
	for _, p := range n.Pairs() {
		if contains(actionKeys, p.Key.Text()) {
			return true
		}
	}
	return false
}

// idsIn lists the step ids declared inside steps (recursively).
func idsIn(steps []dsl.Node) []string {
	var out []string
	walkSteps(steps, func(st dsl.Node) {
		if id, k := st.Get("id"); k.Exists() && id.IsString() {
			out = append(out, id.Text())
		}
	})
	return out
}

func (b *builder) newState(n dsl.Node) *State {
	st := &State{N: len(b.g.States), Pos: pos(n), Next: End, Catch: End, Body: End, Then: End, Else: End, Default: End, CatchEntry: End}
	b.g.States = append(b.g.States, st)
	return st
}

// seq lays out a sequence: the head state of each step first (consecutive
// numbers), each followed by the states of its nested sequences. It returns
// the entry state, or cont when steps is empty.
func (b *builder) seq(steps []dsl.Node, cont, catch int, sc *scope) int {
	if len(steps) == 0 {
		return cont
	}
	heads := make([]*State, len(steps))
	for i, n := range steps {
		heads[i] = b.newState(n)
	}
	for i, n := range steps {
		next := cont
		if i+1 < len(steps) {
			next = heads[i+1].N
		}
		b.step(heads[i], n, next, catch, sc)
		if k := heads[i].Kind; (k == KReturn || k == KFail) && heads[i].When == nil && i+1 < len(steps) {
			b.c.warnf(steps[i+1], "unreachable step: the %s step before it always ends this sequence", k)
		}
	}
	return heads[0].N
}

// branch lays out a branch thread: its sequence ends with End and its
// failures end the branch (Catch End).
func (b *builder) branch(steps []dsl.Node, sc *scope) int {
	return b.seq(steps, End, End, sc)
}

// step compiles one step into st (and its nested states).
func (b *builder) step(st *State, n dsl.Node, next, catch int, sc *scope) {
	c := b.c
	st.Next, st.Catch = next, catch
	st.Label = fmt.Sprintf("step-%d", st.N)
	if n.Kind() != dsl.Mapping {
		c.errorf(n, "a step must be a map with one action key (such as activity, hook, set), not %s", article(n))
		return
	}
	// The action (a key given twice is reported once, as a duplicate).
	c.mapping(n, "a step", nil)
	var acts []dsl.Pair
	hasForEach := false
	hasHook := false
	for _, p := range n.Pairs() {
		switch p.Key.Text() {
		case "forEach":
			hasForEach = true
		case "hook":
			hasHook = true
		}
	}
	for _, p := range n.Pairs() {
		k := p.Key.Text()
		if len(acts) > 0 && acts[len(acts)-1].Key.Text() == k {
			continue
		}
		if !contains(actionKeys, k) || (hasForEach && (k == "hook" || k == "signal")) || (hasHook && !hasForEach && k == "signal") {
			continue
		}
		acts = append(acts, p)
	}
	switch len(acts) {
	case 0:
		c.errorf(n, "step has no action: give one of %s", strings.Join(actionKeys, ", "))
		c.knownKeys(n, "a step", append(append([]string{}, commonKeys...), actionKeys...))
		return
	case 1:
	default:
		c.errorf(acts[1].Key, "step has two actions, %q and %q: a step does one thing; split it into two steps", acts[0].Key.Text(), acts[1].Key.Text())
		return
	}
	act := acts[0]
	action := act.Key.Text()
	allowed := append(append([]string{action}, commonKeys...), extraKeys[action]...)
	c.knownKeys(n, action+" step", allowed)

	if id, k := n.Get("id"); k.Exists() && id.IsString() {
		st.ID = id.Text()
		st.Label = st.ID
	}
	if nm, k := n.Get("name"); k.Exists() {
		if s, ok := c.str(nm, "name"); ok {
			st.Name = s
		}
	}
	if w, k := n.Get("when"); k.Exists() {
		st.When = b.expr(w, "when", sc)
	}
	if st.ID != "" {
		sc.why[st.ID] = "a step cannot read its own output"
	}
	get := func(key string) (dsl.Node, bool) {
		v, k := n.Get(key)
		return v, k.Exists()
	}
	v := act.Value
	switch action {
	case "activity":
		st.Kind = KActivity
		if s, ok := c.str(v, "activity"); ok {
			st.Activity = s
			b.checkActivity(v, s)
		}
		if a, ok := get("args"); ok {
			st.Args = b.value(a, sc)
		}
		if t, ok := get("timeout"); ok {
			st.TimeoutMS, st.Timeout = b.duration(t, "timeout", sc, true)
		}
		r, _ := get("retry")
		st.Retry = b.retry(r)
	case "hook":
		st.Kind = KHook
		b.hookRef(st, v)
		if a, ok := get("args"); ok {
			st.Args = b.value(a, sc)
		}
		if s, ok := get("signal"); ok {
			st.Signal = b.name(s, "signal", sc)
		}
		if a, ok := get("await"); ok {
			st.Await = b.boolean(a, "await")
		}
	case "parallel":
		st.Kind = KParallel
		if f, ok := get("failFast"); ok {
			st.FailFast = derefBool(b.boolean(f, "failFast"))
		}
		b.parallel(st, v, sc)
	case "forEach":
		st.Kind = KForEach
		b.forEach(st, n, v, sc)
	case "wait":
		st.Kind = KWait
		st.Signal = b.name(v, "wait", sc)
		if t, ok := get("timeout"); ok {
			st.TimeoutMS, st.Timeout = b.duration(t, "timeout", sc, true)
		}
	case "signal":
		st.Kind = KSignal
		st.Signal = b.name(v, "signal", sc)
		if d, ok := get("data"); ok {
			st.Data = b.value(d, sc)
		}
		if t, ok := get("to"); ok {
			st.To = b.name(t, "to", sc)
		}
	case "sleep":
		st.Kind = KSleep
		if v.Kind() == dsl.Mapping {
			if c.mapping(v, "sleep", []string{"until"}) {
				if u, k := v.Get("until"); k.Exists() {
					st.Until = b.value(u, sc)
				} else {
					c.errorf(v, "sleep needs a duration (such as 10m) or `until: TIMESTAMP`")
				}
			}
		} else {
			st.DurationMS, st.Duration = b.duration(v, "sleep", sc, true)
		}
	case "workflow":
		st.Kind = KChild
		if s, ok := c.str(v, "workflow"); ok {
			st.Workflow = s
			if _, known := c.workflows[s]; !known {
				c.errorf(v, "unknown workflow %q%s", s, didYouMean(s, c.workflowNames()))
			} else if !contains(b.d.children, s) {
				b.d.children = append(b.d.children, s)
			}
		}
		if w, ok := get("workflowId"); ok {
			st.WorkflowID = b.name(w, "workflowId", sc)
		}
		if a, ok := get("args"); ok {
			st.Args = b.value(a, sc)
		}
		if a, ok := get("await"); ok {
			st.Await = b.boolean(a, "await")
		}
	case "if":
		st.Kind = KIf
		st.Cond = b.expr(v, "if", sc)
		thenN, hasThen := get("then")
		elseN, hasElse := get("else")
		if !hasThen {
			c.errorf(act.Key, "if has no `then` steps")
		}
		var arms []dsl.Node
		if hasThen {
			arms = append(arms, thenN)
		}
		if hasElse {
			arms = append(arms, elseN)
		}
		entries := b.arms(arms, next, catch, sc, "the other arm of the if")
		st.Then, st.Else = next, next
		if hasThen {
			st.Then = entries[0]
		}
		if hasElse {
			st.Else = entries[len(entries)-1]
		}
	case "switch":
		st.Kind = KSwitch
		b.switchStep(st, v, next, catch, sc)
	case "while":
		st.Kind = KWhile
		st.Cond = b.expr(v, "while", sc)
		if m, ok := get("maxIterations"); ok {
			st.MaxIterations = b.positiveInt(m, "maxIterations")
			if st.MaxIterations > MaxIterationsLimit {
				c.errorf(m, "maxIterations %d is over the limit of %d iterations a while loop may declare", st.MaxIterations, MaxIterationsLimit)
				st.MaxIterations = MaxIterationsLimit
			}
		} else {
			c.errorf(act.Key, "while needs `maxIterations` (a bound on the loop)")
		}
		body, ok := get("steps")
		if !ok {
			c.errorf(act.Key, "while has no `steps`")
		} else if b.stepList(body, "while steps") {
			inner := sc.clone()
			for _, id := range idsIn(body.Items()) {
				inner.avail[id] = true // from an earlier iteration
			}
			st.Body = b.seq(body.Items(), st.N, catch, inner)
			sc.merge(inner)
		}
	case "try":
		st.Kind = KTry
		if !b.stepList(v, "try") {
			break
		}
		catchN, hasCatch := get("catch")
		st.CatchEntry = next
		inner := sc.clone()
		// The body is laid out before the catch, so its states first get a
		// placeholder catch unique to this try, patched once the catch
		// entry is known.
		placeholder := -1000000 - st.N
		bodyStart := len(b.g.States)
		st.Body = b.seq(v.Items(), next, placeholder, inner)
		bodyEnd := len(b.g.States)
		if !hasCatch {
			c.errorf(act.Key, "try has no `catch`: give the steps to run when a step inside fails")
		} else if b.stepList(catchN, "catch") {
			csc := inner.withVars("error")
			st.CatchEntry = b.seq(catchN.Items(), next, catch, csc)
			sc.merge(csc)
		}
		for _, s := range b.g.States[bodyStart:bodyEnd] {
			if s.Catch == placeholder {
				s.Catch = st.CatchEntry
			}
		}
		sc.merge(inner)
	case "return":
		st.Kind = KReturn
		st.Value = b.value(v, sc)
	case "fail":
		st.Kind = KFail
		st.Value = b.value(v, sc)
	case "cancel":
		st.Kind = KCancel
		if v.Kind() == dsl.Mapping {
			// cancel: { hook: NAME } stops the running runs of a hook of
			// this instance.
			if c.mapping(v, "cancel", []string{"hook"}) {
				if h, k := v.Get("hook"); k.Exists() {
					b.hookRef(st, h)
				} else {
					c.errorf(v, "cancel takes a workflow id, or `hook: NAME` to stop the runs of a hook of this instance")
				}
			}
		} else {
			st.To = b.name(v, "cancel", sc)
		}
	default:
		st.Kind = KCommand
		st.Commands = b.commands(action, act.Key, v, sc)
	}
	if st.ID != "" {
		sc.avail[st.ID] = true
		delete(sc.why, st.ID)
	}
}

// arms compiles mutually exclusive step lists (if/switch arms): each sees
// the scope before the step; after the step, ids of every arm can have
// completed.
func (b *builder) arms(arms []dsl.Node, next, catch int, sc *scope, other string) []int {
	entries := make([]int, len(arms))
	var outs []*scope
	for i, arm := range arms {
		inner := sc.clone()
		for j, o := range arms {
			if j != i && o.Kind() == dsl.Sequence {
				for _, id := range idsIn(o.Items()) {
					inner.why[id] = "it is in " + other
				}
			}
		}
		entries[i] = next
		if arm.Kind() != dsl.Sequence {
			b.c.errorf(arm, "expected a list of steps, not %s", article(arm))
			continue
		}
		entries[i] = b.seq(arm.Items(), next, catch, inner)
		outs = append(outs, inner)
	}
	for _, o := range outs {
		sc.merge(o)
	}
	return entries
}

func (b *builder) switchStep(st *State, v dsl.Node, next, catch int, sc *scope) {
	c := b.c
	st.Default = next
	if v.Kind() != dsl.Sequence || len(v.Items()) == 0 {
		c.errorf(v, "switch must be a non-empty list of `when:`/`steps:` cases and an optional `default:`")
		return
	}
	var arms []dsl.Node
	var whens []dsl.Node
	defaultAt := -1
	for _, arm := range v.Items() {
		if !c.mapping(arm, "a switch case", []string{"when", "steps", "default"}) {
			continue
		}
		if d, k := arm.Get("default"); k.Exists() {
			if defaultAt >= 0 {
				c.errorf(k, "switch has two `default` cases")
				continue
			}
			if w, wk := arm.Get("when"); wk.Exists() {
				c.errorf(w, "a `default` case has no `when`")
			}
			if d.Kind() == dsl.Sequence && len(d.Items()) == 0 {
				c.errorf(d, "default is empty: give at least one step, or leave `default:` out")
			}
			defaultAt = len(arms)
			arms = append(arms, d)
			whens = append(whens, dsl.Node{})
			continue
		}
		w, wk := arm.Get("when")
		s, sk := arm.Get("steps")
		if !wk.Exists() {
			c.errorf(arm, "a switch case needs `when:` (or is `default:`)")
			continue
		}
		if !sk.Exists() {
			c.errorf(arm, "a switch case needs `steps:`")
			continue
		}
		arms = append(arms, s)
		whens = append(whens, w)
	}
	for i := range arms {
		if i != defaultAt && whens[i].Exists() {
			st.Cases = append(st.Cases, Case{When: b.expr(whens[i], "when", sc)})
		}
	}
	entries := b.arms(arms, next, catch, sc, "another case of the switch")
	ci := 0
	for i, e := range entries {
		if i == defaultAt {
			st.Default = e
			continue
		}
		if ci < len(st.Cases) {
			st.Cases[ci].Entry = e
			ci++
		}
	}
}

func (b *builder) parallel(st *State, v dsl.Node, sc *scope) {
	c := b.c
	if v.Kind() != dsl.Sequence || len(v.Items()) == 0 {
		c.errorf(v, "parallel must be a non-empty list of branches (steps, or `steps:` sequences)")
		return
	}
	items := v.Items()
	branchIDs := make([][]string, len(items))
	seqs := make([][]dsl.Node, len(items))
	for i, br := range items {
		if s, k := br.Get("steps"); k.Exists() && !hasAction(br) {
			c.mapping(br, "a parallel branch", []string{"steps"})
			if b.stepList(s, "branch steps") {
				seqs[i] = s.Items()
			}
		} else {
			seqs[i] = []dsl.Node{br}
		}
		branchIDs[i] = idsIn(seqs[i])
	}
	for i := range items {
		inner := sc.clone()
		for j := range items {
			if j != i {
				for _, id := range branchIDs[j] {
					inner.why[id] = "it runs in another branch of the parallel step"
				}
			}
		}
		if seqs[i] == nil {
			continue
		}
		st.Branches = append(st.Branches, b.branch(seqs[i], inner))
	}
	// Branch threads keep their steps' outputs to themselves: after the
	// parallel step, its own output (the list of branch outputs) is read.
	for _, ids := range branchIDs {
		for _, id := range ids {
			sc.why[id] = "it is inside a parallel branch; after the parallel step, read that step's output (the list of branch outputs)"
		}
	}
}

// forEachWaits says why a forEach takes neither signal nor await.
const forEachWaits = "forEach always waits for each branch to end; to start hooks without waiting, use a hook step with await: false inside steps:"

func (b *builder) forEach(st *State, n, v dsl.Node, sc *scope) {
	c := b.c
	st.Items = b.expr(v, "forEach", sc)
	st.As, st.IndexAs = "item", "index"
	for _, f := range []struct {
		key string
		dst *string
	}{{"as", &st.As}, {"indexAs", &st.IndexAs}} {
		if x, k := n.Get(f.key); k.Exists() {
			if s, ok := c.str(x, f.key); ok {
				if !varRE.MatchString(s) || contains([]string{"input", "entity", "steps", "workflow", "error", "now", "uuid"}, s) {
					c.errorf(x, "bad %s name %q: use an identifier that is not input, entity, steps, workflow or error", f.key, s)
				} else {
					*f.dst = s
				}
			}
		}
	}
	if st.As == st.IndexAs {
		c.errorf(n, "forEach `as` and `indexAs` are both %q", st.As)
	}
	if x, k := n.Get("concurrency"); k.Exists() {
		st.Concurrency = b.positiveInt(x, "concurrency")
	}
	if x, k := n.Get("failFast"); k.Exists() {
		st.FailFast = derefBool(b.boolean(x, "failFast"))
	}
	// A forEach joins its branches: signal and await (which let a hook step
	// go on before its hook ends) have no meaning here.
	for _, key := range []string{"signal", "await"} {
		if _, k := n.Get(key); k.Exists() {
			c.errorf(k, "`%s` is not allowed on forEach: %s", key, forEachWaits)
		}
	}
	inner := sc.withVars(st.As, st.IndexAs)
	h, hk := n.Get("hook")
	s, sk := n.Get("steps")
	switch {
	case hk.Exists() && sk.Exists():
		c.errorf(sk, "forEach takes either `hook:` or `steps:`, not both")
	case hk.Exists():
		b.hookRef(st, h)
		if a, k := n.Get("args"); k.Exists() {
			st.Args = b.value(a, inner)
		}
	case sk.Exists():
		if _, k := n.Get("args"); k.Exists() {
			c.errorf(k, "`args` goes with `hook:` in a forEach; with `steps:` put it on the steps")
		}
		if b.stepList(s, "forEach steps") {
			st.Body = b.branch(s.Items(), inner)
			for _, id := range idsIn(s.Items()) {
				sc.why[id] = "it is inside a forEach body; after the forEach step, read that step's output (the list of branch outputs)"
			}
		}
	default:
		c.errorf(n, "forEach needs `hook:` or `steps:` (what to run for each item)")
	}
}

func (b *builder) hookRef(st *State, v dsl.Node) {
	s, ok := b.c.str(v, "hook")
	if !ok {
		return
	}
	st.Hook = s
	if h, known := b.c.hooks[s]; !known || h.app != b.d.app {
		b.c.errorf(v, "unknown hook %q%s", s, didYouMean(s, b.c.hookNames(b.d.app)))
	}
}

func (b *builder) checkActivity(v dsl.Node, name string) {
	c := b.c
	if c.opts.Activities == nil {
		if !contains(builtinActivities, name) {
			c.warnf(v, "activity %q is not checked: no activities are registered", name)
		}
		return
	}
	if c.opts.Activities.Has(name) || contains(builtinActivities, name) {
		return
	}
	known := append(append([]string{}, c.opts.Activities.Names()...), builtinActivities...)
	sev := dsl.Error
	if c.opts.LaxActivities {
		sev = dsl.Warning
	}
	c.add(sev, v.Pos(), "unknown activity %q%s", name, didYouMean(name, known))
}

// builtinActivities are the activities every memflow engine provides.
var builtinActivities = []string{"http.request", "log"}

func (b *builder) retry(n dsl.Node) *Retry {
	r := &Retry{MaxAttempts: 3, InitialMS: 1000, Coefficient: 2, MaxMS: 60000}
	if !n.Exists() {
		return r
	}
	c := b.c
	if !c.mapping(n, "retry", []string{"maxAttempts", "initialInterval", "backoffCoefficient", "maxInterval", "nonRetryable"}) {
		return r
	}
	maxSet := false
	for _, p := range n.Pairs() {
		switch p.Key.Text() {
		case "maxAttempts":
			r.MaxAttempts = b.positiveInt(p.Value, "retry.maxAttempts")
		case "initialInterval":
			r.InitialMS, _ = b.duration(p.Value, "retry.initialInterval", nil, false)
		case "maxInterval":
			r.MaxMS, _ = b.duration(p.Value, "retry.maxInterval", nil, false)
			maxSet = true
		case "backoffCoefficient":
			x, err := p.Value.Value()
			f, ok := toFloat(x)
			if err != nil || !ok || f < 1 {
				c.errorf(p.Value, "retry.backoffCoefficient must be a number >= 1, not %s", quoteNode(p.Value))
			} else {
				r.Coefficient = f
			}
		case "nonRetryable":
			if p.Value.Kind() != dsl.Sequence {
				c.errorf(p.Value, "retry.nonRetryable must be a list of error types, not %s", article(p.Value))
				continue
			}
			for _, it := range p.Value.Items() {
				if s, ok := c.str(it, "an error type"); ok {
					r.NonRetryable = append(r.NonRetryable, s)
				}
			}
		}
	}
	if !maxSet && r.InitialMS > r.MaxMS {
		r.MaxMS = r.InitialMS
	}
	if maxSet && r.MaxMS > 0 && r.InitialMS > r.MaxMS {
		c.errorf(n, "retry.maxInterval (%s) is below retry.initialInterval (%s)", time.Duration(r.MaxMS)*time.Millisecond, time.Duration(r.InitialMS)*time.Millisecond)
	}
	return r
}

func toFloat(x any) (float64, bool) {
	switch t := x.(type) {
	case int:
		return float64(t), true
	case float64:
		return t, true
	}
	return 0, false
}

func quoteNode(n dsl.Node) string {
	if n.Kind() == dsl.Scalar {
		return fmt.Sprintf("%q", n.Text())
	}
	return article(n)
}

func (b *builder) positiveInt(n dsl.Node, what string) int {
	x, err := n.Value()
	i, ok := x.(int)
	if err != nil || !ok || n.Tag() != "!!int" || i < 1 {
		b.c.errorf(n, "%s must be a positive integer, not %s", what, quoteNode(n))
		return 0
	}
	return i
}

func (b *builder) boolean(n dsl.Node, what string) *bool {
	x, _ := n.Value()
	v, ok := x.(bool)
	if !ok {
		b.c.errorf(n, "%s must be true or false, not %s", what, quoteNode(n))
		return nil
	}
	return &v
}

func derefBool(p *bool) bool { return p != nil && *p }

// duration reads a Go duration (returned in milliseconds) or, when
// allowExpr, an expression yielding one.
func (b *builder) duration(n dsl.Node, what string, sc *scope, allowExpr bool) (int64, *Value) {
	if n.IsExpr() {
		if !allowExpr {
			b.c.errorf(n, "%s must be a fixed duration such as 30s, not an expression", what)
			return 0, nil
		}
		return 0, b.value(n, sc)
	}
	if !n.IsString() {
		b.c.errorf(n, "bad duration %s for %s: use Go syntax such as 500ms, 30s or 1h30m", quoteNode(n), what)
		return 0, nil
	}
	d, err := time.ParseDuration(n.Text())
	if err != nil {
		b.c.errorf(n, "bad duration %q for %s: use Go syntax such as 500ms, 30s or 1h30m", n.Text(), what)
		return 0, nil
	}
	if d <= 0 {
		b.c.errorf(n, "duration %q for %s must be positive", n.Text(), what)
		return 0, nil
	}
	if d < time.Millisecond {
		b.c.errorf(n, "duration %q for %s is below the 1ms resolution", n.Text(), what)
		return 0, nil
	}
	return d.Milliseconds(), nil
}

// name reads a signal name, workflow id or similar: a string template.
func (b *builder) name(n dsl.Node, what string, sc *scope) *Value {
	if !n.IsString() || n.Text() == "" {
		b.c.errorf(n, "%s must be a non-empty string, not %s", what, article(n))
		return nil
	}
	return b.value(n, sc)
}

// commands compiles an entity command step.
func (b *builder) commands(op string, key, v dsl.Node, sc *scope) []Command {
	c := b.c
	switch op {
	case "set", "merge":
		val := b.value(v, sc)
		if op == "merge" && v.Kind() != dsl.Mapping && !v.IsExpr() {
			c.errorf(v, "merge takes a map to merge into the document, not %s", article(v))
		}
		return []Command{{Op: op, Value: val, Pos: pos(v)}}
	case "toggle", "delete":
		var paths []dsl.Node
		switch v.Kind() {
		case dsl.Sequence:
			paths = v.Items()
			if len(paths) == 0 {
				c.errorf(v, "%s needs at least one path", op)
			}
		case dsl.Scalar:
			paths = []dsl.Node{v}
		default:
			c.errorf(v, "%s takes a path or a list of paths, not %s", op, article(v))
		}
		var out []Command
		for _, p := range paths {
			if path := b.path(p, op, sc); path != nil {
				out = append(out, Command{Op: op, Path: path, Pos: pos(p)})
			}
		}
		return out
	}
	if v.Kind() != dsl.Mapping || len(v.Pairs()) == 0 {
		c.errorf(v, "%s takes a map of path: value (such as `%s: { items: ... }`), not %s", op, op, article(v))
		return nil
	}
	c.mapping(v, op, nil)
	var out []Command
	for _, p := range v.Pairs() {
		path := b.path(p.Key, op, sc)
		val := b.value(p.Value, sc)
		switch op {
		case "remove":
			if x, _ := p.Value.Value(); !p.Value.IsExpr() {
				if i, ok := x.(int); !ok || i < 0 {
					c.errorf(p.Value, "remove takes an array index (an integer >= 0), not %s", quoteNode(p.Value))
				}
			}
		case "increment", "multiply":
			if x, _ := p.Value.Value(); !p.Value.IsExpr() {
				if _, ok := toFloat(x); !ok {
					c.errorf(p.Value, "%s takes a number, not %s", op, quoteNode(p.Value))
				}
			}
		}
		if path != nil {
			out = append(out, Command{Op: op, Path: path, Value: val, Pos: pos(p.Key)})
		}
	}
	return out
}

// path compiles an entity path: a constant dotted path or a template.
func (b *builder) path(n dsl.Node, op string, sc *scope) *Value {
	if !n.IsString() || n.Text() == "" {
		b.c.errorf(n, "%s: a path must be a non-empty string, not %s", op, quoteNode(n))
		return nil
	}
	if !n.IsExpr() {
		if err := checkPath(n.Text()); err != nil {
			b.c.errorf(n, "%s: bad path %q: %v", op, n.Text(), err)
			return nil
		}
	}
	b.inPath = true
	defer func() { b.inPath = false }()
	return b.value(n, sc)
}

func pos(n dsl.Node) Pos {
	p := n.Pos()
	return Pos{File: p.File, Line: p.Line, Col: p.Col}
}
