package flowtest

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	"github.com/memflow/memflow"
	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/dsl"
)

// Coverage collects which steps of the loaded flows the cases reached.
type Coverage struct {
	mu      sync.Mutex
	steps   map[stepKey]*compiler.State
	reached map[stepKey]bool
}

// stepKey names a step: its workflow, its graph ("" the workflow's own
// steps, else the hook) and its label.
type stepKey struct{ workflow, graph, label string }

// NewCoverage returns an empty coverage.
func NewCoverage() *Coverage {
	return &Coverage{steps: map[stepKey]*compiler.State{}, reached: map[stepKey]bool{}}
}

// add registers the steps of a catalogue's flows.
func (c *Coverage) add(cat *compiler.Catalogue) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range cat.Programs {
		for _, g := range graphs(p) {
			name := ""
			if g.Kind == "hook" {
				name = g.Name
			}
			for _, s := range g.States {
				c.steps[stepKey{p.Name, name, s.Label}] = s
			}
		}
	}
}

// record marks the steps that the instances in h's store ran.
func (c *Coverage) record(ctx context.Context, h *Harness) {
	var after string
	for {
		list, next, err := h.eng.List(ctx, memflow.ListOptions{Limit: 1000, After: after})
		if err != nil {
			return
		}
		for _, in := range list {
			hist, err := h.eng.History(ctx, in.ID)
			if err != nil {
				continue
			}
			c.mu.Lock()
			for _, e := range hist {
				if e.Step == "" {
					continue
				}
				var d struct {
					Hook string `json:"hook"`
				}
				_ = json.Unmarshal(e.Detail, &d)
				c.reached[stepKey{in.Workflow, d.Hook, e.Step}] = true
			}
			c.mu.Unlock()
			if in.Status != memflow.StatusRunning {
				continue
			}
			// A step an instance waits at was reached too.
			if st, err := h.eng.Status(ctx, in.ID); err == nil {
				c.mu.Lock()
				for _, t := range st.Threads {
					c.reached[stepKey{in.Workflow, t.Hook, t.Step}] = true
				}
				c.mu.Unlock()
			}
		}
		if next == "" {
			return
		}
		after = next
	}
}

// Unreached lists the steps no case reached, by position, each as
// `file:line: step <id or kind> never ran`. A hook's steps count once for
// all the workflows that share it.
func (c *Coverage) Unreached() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	type at struct {
		pos dsl.Pos
		s   *compiler.State
	}
	reachedAt := map[dsl.Pos]bool{}
	all := map[dsl.Pos]*compiler.State{}
	for k, s := range c.steps {
		p := dsl.Pos{File: s.Pos.File, Line: s.Pos.Line, Col: s.Pos.Col}
		all[p] = s
		if c.reached[k] {
			reachedAt[p] = true
		}
	}
	var out []at
	for p, s := range all {
		if !reachedAt[p] {
			out = append(out, at{p, s})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pos.Before(out[j].pos) })
	lines := make([]string, len(out))
	for i, u := range out {
		name := u.s.ID
		if name == "" {
			name = string(u.s.Kind)
			if len(u.s.Commands) > 0 {
				name = u.s.Commands[0].Op
			}
		}
		lines[i] = fmt.Sprintf("%s:%d: step %s never ran", u.pos.File, u.pos.Line, name)
	}
	return lines
}
