package flowtest

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/memflow/memflow"
	"github.com/memflow/memflow/activities"
	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/dsl"
)

// CaseResult is how one case went.
type CaseResult struct {
	File     string        `json:"file"`
	Case     string        `json:"case"`
	Pos      dsl.Pos       `json:"pos"`
	Passed   bool          `json:"passed"`
	Duration time.Duration `json:"-"`
	Failures []Failed      `json:"failures,omitempty"`
	Instance string        `json:"instance,omitempty"`
}

// Failed is one failed expectation, placed at its line in the test file.
type Failed struct {
	Pos     dsl.Pos `json:"pos"`
	Message string  `json:"message"`
	Want    string  `json:"want,omitempty"` // JSON
	Got     string  `json:"got,omitempty"`  // JSON
}

func (f Failed) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", f.Pos, f.Message)
	if f.Want != "" || f.Got != "" {
		fmt.Fprintf(&b, "\n  - want: %s\n  + got:  %s", f.Want, f.Got)
	}
	return b.String()
}

// RunOptions configures Run.
type RunOptions struct {
	// Match, when set, runs only the cases whose name it matches (a case a
	// matching hook case needs runs too).
	Match *regexp.Regexp
	// Cover, when set, receives the steps each run reached.
	Cover *Coverage
}

// Run runs the cases of test file f. A flow that does not load is an error
// (a *memflow.FlowError); failed expectations are in the results.
func Run(ctx context.Context, f *File, opts RunOptions) ([]CaseResult, error) {
	cat, err := compile(f.Flows)
	if err != nil {
		return nil, err
	}
	if opts.Cover != nil {
		opts.Cover.add(cat)
	}
	byID := map[string]*Harness{} // instance id -> the harness it runs on
	var open_ []*Harness
	defer func() {
		for _, h := range open_ {
			h.Close()
		}
	}()
	need := map[string]bool{} // ids hook cases that will run need
	for _, c := range f.Cases {
		if c.Hook != "" && (opts.Match == nil || opts.Match.MatchString(c.Name)) {
			need[c.Instance] = true
		}
	}
	var out []CaseResult
	for _, c := range f.Cases {
		if opts.Match != nil && !opts.Match.MatchString(c.Name) && !(c.ID != "" && need[c.ID]) {
			continue
		}
		began := time.Now()
		var h *Harness
		if c.Hook != "" {
			h = byID[c.Instance]
		}
		if h == nil {
			h, err = open(ctx, Options{Clock: c.Clock}, cat, f.Flows)
			if err != nil {
				return out, err
			}
			open_ = append(open_, h)
		}
		r := runCase(ctx, h, f, c)
		r.Duration = time.Since(began)
		if r.Instance != "" && c.Workflow != "" {
			byID[r.Instance] = h
		}
		if opts.Cover != nil {
			opts.Cover.record(ctx, h)
		}
		out = append(out, r)
	}
	return out, nil
}

// runCase runs one case on h and checks its expectations.
func runCase(ctx context.Context, h *Harness, f *File, c *Case) CaseResult {
	r := CaseResult{File: f.Path, Case: c.Name, Pos: c.Pos}
	fail := func(pos dsl.Pos, format string, args ...any) {
		r.Failures = append(r.Failures, Failed{Pos: pos, Message: fmt.Sprintf(format, args...)})
	}
	h.mu.Lock()
	h.mocks = map[string]MockFunc{}
	firstCall, firstUnmocked := len(h.calls), len(h.unmocked)
	h.mu.Unlock()
	for _, m := range c.Mocks {
		fns := make([]MockFunc, len(m.Answers))
		for i, a := range m.Answers {
			fns[i] = answerFunc(h, a)
		}
		if err := h.Mock(m.Activity, Sequence(fns...)); err != nil {
			fail(m.Answers[0].Pos, "%v", err)
		}
	}
	if len(r.Failures) > 0 {
		return r
	}
	start := h.Now()
	id := c.Instance
	if c.Workflow != "" {
		var opts []memflow.StartOption
		if c.ID != "" {
			opts = append(opts, memflow.WithID(c.ID))
		}
		var err error
		if id, err = h.eng.Start(ctx, c.Workflow, c.Input, opts...); err != nil {
			fail(c.Pos, "start %s: %v", c.Workflow, err)
			return r
		}
	} else if err := h.eng.Hook(ctx, id, c.Hook, c.Input); err != nil {
		fail(c.Pos, "start hook %s on %s: %v", c.Hook, id, err)
		return r
	}
	r.Instance = id
	sent := make([]bool, len(c.Signals))
	ended := false
	idle := func(next time.Time, ok bool) (bool, error) {
		st, err := h.eng.Status(ctx, id)
		if err != nil {
			return false, err
		}
		if st.Status != memflow.StatusRunning {
			ended = true
			return false, nil // nothing is sent to an ended instance
		}
		// A signal due at a virtual time comes before a later timer.
		best := -1
		for i, s := range c.Signals {
			if sent[i] || !s.HasAt {
				continue
			}
			if best < 0 || s.At < c.Signals[best].At {
				best = i
			}
		}
		if best >= 0 && (!ok || !start.Add(c.Signals[best].At).After(next)) {
			h.setNow(start.Add(c.Signals[best].At))
			sent[best] = true
			return true, h.eng.Signal(ctx, id, c.Signals[best].Name, c.Signals[best].Data)
		}
		// A signal sent when the instance first waits for it.
		for _, t := range st.Threads {
			if t.Doing != memflow.DoingSignal {
				continue
			}
			for i, s := range c.Signals {
				if !sent[i] && !s.HasAt && s.Name == t.Signal {
					sent[i] = true
					return true, h.eng.Signal(ctx, id, s.Name, s.Data)
				}
			}
		}
		return false, nil
	}
	if err := h.drive(ctx, idle, time.Time{}); err != nil {
		fail(c.Pos, "run: %v", err)
		return r
	}
	for i, s := range c.Signals {
		switch {
		case sent[i]:
		case ended:
			fail(s.Pos, "signal %s was never sent: the instance ended first", s.Name)
		default:
			fail(s.Pos, "signal %s was never sent: the instance never waited for it", s.Name)
		}
	}
	h.mu.Lock()
	calls := append([]Call(nil), h.calls[firstCall:]...)
	unmocked := append([]string(nil), h.unmocked[firstUnmocked:]...)
	h.mu.Unlock()
	seenUnmocked := map[string]bool{}
	for _, name := range unmocked {
		if !seenUnmocked[name] {
			seenUnmocked[name] = true
			fail(c.Pos, "activity %s was called but the case has no mock for it (add it under activities:)", name)
		}
	}
	check(ctx, h, c, id, calls, &r)
	r.Passed = len(r.Failures) == 0
	return r
}

// answerFunc turns one mocked answer into a MockFunc.
func answerFunc(h *Harness, a Answer) MockFunc {
	return func(ctx context.Context, args json.RawMessage) (any, error) {
		if a.Fail != nil {
			var err error = &activities.Error{Type: a.Fail.Type, Message: a.Fail.Message}
			if a.Fail.NonRetryable {
				err = activities.NonRetryable(err)
			}
			return nil, err
		}
		if a.Returns == nil {
			return nil, nil
		}
		v, err := a.Returns.Eval(&compiler.Env{Vars: map[string]any{"args": decode(args)}, Now: h.Now})
		if err != nil {
			return nil, activities.NonRetryable(fmt.Errorf("mock answer at %s: %w", a.Pos, err))
		}
		return v, nil
	}
}

// check compares what instance id did with c's expectations.
func check(ctx context.Context, h *Harness, c *Case, id string, calls []Call, r *CaseResult) {
	ex := &c.Expect
	add := func(key string, path []string, m mismatch) {
		f := Failed{Pos: ex.node(key, path).Pos()}
		where := strings.Join(append([]string{key}, path...), ".")
		if m.why != "" {
			f.Message = fmt.Sprintf("%s: %s", where, m.why)
		} else {
			f.Message = fmt.Sprintf("%s differs", where)
			f.Want, f.Got = show(m.want), show(m.got)
		}
		r.Failures = append(r.Failures, f)
	}
	inst, err := h.eng.Get(ctx, id)
	if err != nil {
		r.Failures = append(r.Failures, Failed{Pos: c.Pos, Message: fmt.Sprintf("read instance %s: %v", id, err)})
		return
	}
	status := inst.Status
	if status == memflow.StatusRunning {
		status = "waiting"
	}
	hist, _ := h.eng.History(ctx, id)
	switch {
	case ex.Has("status"):
		if ex.Status != status {
			r.Failures = append(r.Failures, Failed{Pos: ex.node("status", nil).Pos(),
				Message: fmt.Sprintf("status: want %s, got %s%s", ex.Status, status, outcomeNote(ctx, h, inst, hist))})
		}
	case ex.Has("error"):
		// An expected error implies a failure (or a cancel: error type Cancelled).
		if status != memflow.StatusFailed && status != memflow.StatusCancelled {
			r.Failures = append(r.Failures, Failed{Pos: ex.node("error", nil).Pos(),
				Message: fmt.Sprintf("status: want failed (an error is expected), got %s%s", status, outcomeNote(ctx, h, inst, hist))})
		}
	case c.Workflow != "" && status != memflow.StatusCompleted:
		// A case that says nothing of the status expects a completion.
		r.Failures = append(r.Failures, Failed{Pos: c.Pos, Message: fmt.Sprintf("status: want completed (say expect.status otherwise), got %s%s",
			status, outcomeNote(ctx, h, inst, hist))})
	}
	if ex.Has("result") {
		for _, m := range match(normal(ex.Result), decode(inst.Result), false, nil) {
			add("result", m.path, m)
		}
	}
	if ex.Has("entity") {
		for _, m := range match(normal(ex.Entity), decode(inst.Entity), true, nil) {
			add("entity", m.path, m)
		}
	}
	if ex.Has("error") {
		got := lastError(hist)
		if got == nil {
			add("error", nil, mismatch{why: fmt.Sprintf("want an error, got none (status %s)", status)})
		} else {
			for _, m := range match(normal(ex.Error), got, true, nil) {
				add("error", m.path, m)
			}
		}
	}
	if ex.Has("calls") {
		for _, name := range sortedKeys(toAny(ex.Calls)) {
			want := ex.Calls[name]
			var got []any
			for _, cl := range calls {
				if cl.Activity == name {
					got = append(got, decode(cl.Args))
				}
			}
			if len(got) != len(want) {
				add("calls", []string{name}, mismatch{why: fmt.Sprintf("want %d call(s) of %s, got %d: %s", len(want), name, len(got), show(got))})
				continue
			}
			for i := range want {
				for _, m := range match(normal(want[i]), got[i], true, nil) {
					add("calls", append([]string{name, fmt.Sprint(i)}, m.path...), m)
				}
			}
		}
	}
	if ex.Has("steps") {
		ran := stepsRan(hist)
		if missing, ok := subsequence(ex.Steps, ran); !ok {
			add("steps", nil, mismatch{why: fmt.Sprintf("want steps %s in this order, but %q did not run after the ones before it; steps that ran: %s",
				strings.Join(ex.Steps, ", "), missing, strings.Join(ran, ", "))})
		}
	}
}

func toAny(m map[string][]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// outcomeNote says what a running instance waits for, or why it failed.
func outcomeNote(ctx context.Context, h *Harness, inst *memflow.Instance, hist []memflow.Event) string {
	if inst.Status == memflow.StatusRunning {
		st, err := h.eng.Status(ctx, inst.ID)
		if err != nil {
			return ""
		}
		var parts []string
		for _, t := range st.Threads {
			parts = append(parts, t.Line(h.Now()))
		}
		if len(parts) == 0 {
			return ""
		}
		return " (" + strings.Join(parts, "; ") + ")"
	}
	if e := lastError(hist); e != nil {
		return " (" + show(e) + ")"
	}
	return ""
}

// lastError is the error of a failed or cancelled instance's last row.
func lastError(hist []memflow.Event) any {
	for i := len(hist) - 1; i >= 0; i-- {
		switch hist[i].Kind {
		case memflow.StatusFailed, memflow.StatusCancelled:
			return decode(hist[i].Detail)
		}
	}
	return nil
}

// stepsRan lists the steps history rows name, in order, each once per
// time it ran.
func stepsRan(hist []memflow.Event) []string {
	var out []string
	for _, e := range hist {
		if e.Step != "" && e.Kind == "step" {
			out = append(out, e.Step)
		}
	}
	return out
}

// subsequence tells whether want appears in got in order; when not, the
// first step of want that did not.
func subsequence(want, got []string) (string, bool) {
	j := 0
	for _, w := range want {
		for j < len(got) && got[j] != w {
			j++
		}
		if j == len(got) {
			return w, false
		}
		j++
	}
	return "", true
}
