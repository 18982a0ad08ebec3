package compiler

import (
	"fmt"
	"strings"

	"github.com/memflow/memflow/dsl"
)

// A workflow that starts itself as a child on every run, directly or
// through other workflows of the same load, would start instances without
// end. checkSelfStart refuses it.
//
// A child step counts as unconditional when every run of its workflow
// reaches it by the step sequence alone: it has no `when:`, and no enclosing
// step has one; it is not inside an if or switch arm, a while or forEach
// body, or a catch; it is not after a return or fail step without `when:`.
// The steps of a try body and of parallel branches do count (they run
// whenever the step does). Any condition is enough, even one that always
// holds: conditions are not evaluated at load. Hooks are not considered: they
// run when called, not on every run.

// unconditionalChildren lists the child states of g that every run of g
// reaches.
func unconditionalChildren(g *Graph) []*State {
	if g == nil {
		return nil
	}
	var out []*State
	seen := map[int]bool{}
	var walk func(i int)
	walk = func(i int) {
		for i >= 0 && i < len(g.States) && !seen[i] {
			seen[i] = true
			s := g.States[i]
			if s.When == nil {
				switch s.Kind {
				case KChild:
					out = append(out, s)
				case KParallel:
					for _, br := range s.Branches {
						walk(br)
					}
				case KTry:
					walk(s.Body)
				case KReturn, KFail:
					return
				}
			}
			i = s.Next
		}
	}
	walk(g.Entry)
	return out
}

// checkSelfStart reports each unconditional child step that lies on a cycle
// of unconditional child steps among the loaded workflows, at the step.
func (c *loader) checkSelfStart() {
	edges := map[string][]*State{}
	for _, name := range c.wfOrder {
		for _, s := range unconditionalChildren(c.workflows[name].graph) {
			if _, known := c.workflows[s.Workflow]; known {
				edges[name] = append(edges[name], s)
			}
		}
	}
	for _, w := range c.wfOrder {
		for _, s := range edges[w] {
			path := pathBack(edges, s.Workflow, w)
			if path == nil {
				continue
			}
			p := dsl.Pos{File: s.Pos.File, Line: s.Pos.Line, Col: s.Pos.Col}
			if s.Workflow == w {
				c.add(dsl.Error, p, "workflow %q starts itself as a child on every run, so each instance would start another without end: "+
					"give this step a condition (when:, or put it inside if, switch, while or forEach)", w)
				continue
			}
			c.add(dsl.Error, p, "workflow %q starts itself on every run through %s, so instances would start one another without end: "+
				"give this step, or one of the others on the way, a condition (when:, or put it inside if, switch, while or forEach)",
				w, strings.Join(quoteAll(append([]string{w}, path...)), " -> "))
		}
	}
}

// pathBack returns the workflows from `from` to `to` along edges (both
// ends included), or nil when `to` cannot be reached.
func pathBack(edges map[string][]*State, from, to string) []string {
	parent := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		w := queue[0]
		queue = queue[1:]
		if w == to {
			var path []string
			for x := w; x != ""; x = parent[x] {
				path = append([]string{x}, path...)
			}
			return path
		}
		for _, s := range edges[w] {
			if _, seen := parent[s.Workflow]; !seen {
				parent[s.Workflow] = w
				queue = append(queue, s.Workflow)
			}
		}
	}
	return nil
}

func quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = fmt.Sprintf("%q", n)
	}
	return out
}
