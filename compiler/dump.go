package compiler

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Dump writes a readable listing of a program: one line per state,
// graph by graph (the workflow, then hooks by name).
func (p *Program) Dump(w io.Writer) {
	fmt.Fprintf(w, "program %s entity=%s", p.Name, p.Entity)
	if p.App != "" {
		fmt.Fprintf(w, " app=%s", p.App)
	}
	if p.TaskQueue != "" {
		fmt.Fprintf(w, " taskQueue=%s", p.TaskQueue)
	}
	if len(p.Indexes) > 0 {
		fmt.Fprintf(w, " indexes=%s", strings.Join(p.Indexes, ","))
	}
	if len(p.ArrayIndexes) > 0 {
		fmt.Fprintf(w, " arrayIndexes=%s", strings.Join(p.ArrayIndexes, ","))
	}
	if len(p.Children) > 0 {
		fmt.Fprintf(w, " children=%s", strings.Join(p.Children, ","))
	}
	if len(p.EntitySchema) > 0 {
		fmt.Fprintf(w, " entitySchema=%s", p.EntitySchema)
	}
	fmt.Fprintln(w)
	for _, g := range p.graphs() {
		g.Dump(w)
	}
}

// Dump writes a readable listing of a graph, one line per state.
func (g *Graph) Dump(w io.Writer) {
	fmt.Fprintf(w, "%s %s entry=%d", g.Kind, g.Name, g.Entry)
	if g.TaskQueue != "" {
		fmt.Fprintf(w, " taskQueue=%s", g.TaskQueue)
	}
	if g.TimeoutMS != 0 {
		fmt.Fprintf(w, " timeoutMs=%d", g.TimeoutMS)
	}
	if len(g.Input) > 0 {
		fmt.Fprintf(w, " input=%s", g.Input)
	}
	if g.Result != nil {
		fmt.Fprintf(w, " result=%s", valueText(g.Result))
	}
	fmt.Fprintln(w)
	for _, s := range g.States {
		fmt.Fprintf(w, "  %s\n", s.line())
	}
}

// line renders a state: number, kind, label, then its set fields.
func (s *State) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s %s @%d:%d", s.N, s.Kind, s.Label, s.Pos.Line, s.Pos.Col)
	f := func(k string, v any) { fmt.Fprintf(&b, " %s=%v", k, v) }
	link := func(k string, v int) { f(k, v) }
	if s.Name != "" {
		f("name", fmt.Sprintf("%q", s.Name))
	}
	if s.When != nil {
		f("when", exprText(s.When))
	}
	link("next", s.Next)
	link("catch", s.Catch)
	switch s.Kind {
	case KCommand:
		for _, c := range s.Commands {
			fmt.Fprintf(&b, " %s(", c.Op)
			if c.Path != nil {
				b.WriteString(valueText(c.Path))
				if c.Value != nil {
					b.WriteString(", ")
				}
			}
			if c.Value != nil {
				b.WriteString(valueText(c.Value))
			}
			b.WriteString(")")
		}
	case KActivity:
		f("activity", s.Activity)
	case KHook, KCancel:
		if s.Hook != "" {
			f("hook", s.Hook)
		}
	case KParallel:
		f("branches", s.Branches)
	case KForEach:
		f("items", exprText(s.Items))
		f("as", s.As)
		f("indexAs", s.IndexAs)
		if s.Hook != "" {
			f("hook", s.Hook)
		} else {
			link("body", s.Body)
		}
		if s.Concurrency != 0 {
			f("concurrency", s.Concurrency)
		}
	case KChild:
		f("workflow", s.Workflow)
		if s.WorkflowID != nil {
			f("workflowId", valueText(s.WorkflowID))
		}
	case KIf:
		f("cond", exprText(s.Cond))
		link("then", s.Then)
		link("else", s.Else)
	case KSwitch:
		for i, c := range s.Cases {
			f(fmt.Sprintf("case%d", i), fmt.Sprintf("%s->%d", exprText(c.When), c.Entry))
		}
		link("default", s.Default)
	case KWhile:
		f("cond", exprText(s.Cond))
		link("body", s.Body)
		f("maxIterations", s.MaxIterations)
	case KTry:
		link("body", s.Body)
		link("catchEntry", s.CatchEntry)
	case KReturn, KFail:
		f("value", valueText(s.Value))
	}
	if s.FailFast {
		f("failFast", true)
	}
	if s.Signal != nil {
		f("signal", valueText(s.Signal))
	}
	if s.To != nil {
		f("to", valueText(s.To))
	}
	if s.Data != nil {
		f("data", valueText(s.Data))
	}
	if s.Args != nil {
		f("args", valueText(s.Args))
	}
	if s.Await != nil {
		f("await", *s.Await)
	}
	if s.TimeoutMS != 0 {
		f("timeoutMs", s.TimeoutMS)
	}
	if s.Timeout != nil {
		f("timeout", valueText(s.Timeout))
	}
	if s.DurationMS != 0 {
		f("durationMs", s.DurationMS)
	}
	if s.Duration != nil {
		f("duration", valueText(s.Duration))
	}
	if s.Until != nil {
		f("until", valueText(s.Until))
	}
	if r := s.Retry; r != nil {
		f("retry", fmt.Sprintf("%d/%dms*%g/%dms", r.MaxAttempts, r.InitialMS, r.Coefficient, r.MaxMS))
		if len(r.NonRetryable) > 0 {
			f("nonRetryable", strings.Join(r.NonRetryable, ","))
		}
	}
	return b.String()
}

func exprText(e *Expr) string {
	if e == nil {
		return "<nil>"
	}
	out := "${ " + e.Src + " }"
	if len(e.Scope) > 0 {
		out += "[" + strings.Join(e.Scope, ",") + "]"
	}
	return out
}

func valueText(v *Value) string {
	if v == nil {
		return "<nil>"
	}
	out := canonJSON(v.Raw)
	if len(v.Scope) > 0 {
		out += "[" + strings.Join(v.Scope, ",") + "]"
	}
	return out
}

// canonJSON renders x as compact JSON with sorted keys.
func canonJSON(x any) string {
	switch t := x.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			kb, _ := json.Marshal(k)
			parts[i] = string(kb) + ":" + canonJSON(t[k])
		}
		return "{" + strings.Join(parts, ",") + "}"
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = canonJSON(e)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	b, err := json.Marshal(x)
	if err != nil {
		return fmt.Sprint(x)
	}
	return string(b)
}
