// Package graph draws compiled flows: the states of a workflow or hook,
// its branches, loops, waits and try/catch edges, as Mermaid, Graphviz dot
// or SVG. memflow graph prints the first two; memflow serve shows the SVG.
package graph

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/memflow/memflow/compiler"
)

// HookNames lists the hooks a program has, sorted.
func HookNames(p *compiler.Program) []string {
	var out []string
	for h := range p.Hooks {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}

// Picture is a drawing of graphs: clusters of nodes and edges, rendered as
// Mermaid or dot.
type Picture struct {
	clusters []*cluster
	edges    []edge
	starts   map[string]string // hook name -> its start node
}

type cluster struct {
	id, title string
	nodes     []node
}

type node struct {
	id, label, shape string // shape: box, decision, loop, wait, call, terminal, round
	step             string // the state's label (history rows name it), "" for start, end and joins
}

type edge struct {
	from, to, label, style string // style: "" solid, "dotted", "thick"
}

// New returns an empty picture.
func New() *Picture { return &Picture{starts: map[string]string{}} }

// Add adds one workflow or hook: a start node, a node per state, an end
// node, and the edges of every link.
func (p *Picture) Add(g *compiler.Graph) {
	prefix := g.Kind[:1] + "_" + safeID(g.Name)
	c := &cluster{id: prefix, title: g.Kind + " " + g.Name}
	p.clusters = append(p.clusters, c)
	id := func(n int) string { return fmt.Sprintf("%s_%d", prefix, n) }
	start, end := prefix+"_start", prefix+"_end"
	c.nodes = append(c.nodes, node{start, "start", "terminal", ""})
	if g.Kind == "hook" {
		p.starts[g.Name] = start
	}
	// Threads: End means the end of the graph on the main thread and the
	// end of a branch on a branch thread; branch ends go to a join node.
	owner := threads(g)
	target := func(from, n int) string {
		if n != compiler.End {
			return id(n)
		}
		if o, ok := owner[from]; ok {
			return id(o) + "_join"
		}
		return end
	}
	link := func(from int, to int, label, style string) {
		p.edges = append(p.edges, edge{id(from), target(from, to), label, style})
	}
	p.edges = append(p.edges, edge{start, target(-1, g.Entry), "", ""})
	for _, s := range g.States {
		c.nodes = append(c.nodes, node{id(s.N), s.Describe(), stateShape(s.Kind), s.Label})
		switch s.Kind {
		case compiler.KIf:
			link(s.N, s.Then, "then", "")
			link(s.N, s.Else, "else", "")
		case compiler.KSwitch:
			for i, cs := range s.Cases {
				link(s.N, cs.Entry, fmt.Sprintf("case %d", i+1), "")
			}
			link(s.N, s.Default, "default", "")
		case compiler.KWhile:
			link(s.N, s.Body, "loop", "")
			link(s.N, s.Next, "done", "")
		case compiler.KTry:
			link(s.N, s.Body, "try", "")
		case compiler.KParallel, compiler.KForEach:
			join := id(s.N) + "_join"
			c.nodes = append(c.nodes, node{join, "join", "round", ""})
			for i, b := range s.Branches {
				p.edges = append(p.edges, edge{id(s.N), id(b), fmt.Sprintf("branch %d", i+1), "thick"})
			}
			if s.Kind == compiler.KForEach && s.Hook == "" && s.Body != compiler.End {
				p.edges = append(p.edges, edge{id(s.N), id(s.Body), "each " + s.As, "thick"})
			}
			if s.Kind == compiler.KForEach && s.Hook != "" {
				p.edges = append(p.edges, edge{id(s.N), join, "each " + s.As, "thick"})
			}
			p.edges = append(p.edges, edge{join, target(s.N, s.Next), "", ""})
		case compiler.KReturn, compiler.KFail:
			p.edges = append(p.edges, edge{id(s.N), end, "", ""})
		default:
			link(s.N, s.Next, "", "")
		}
		if s.When != nil {
			link(s.N, s.Next, "skip", "dotted")
		}
		if s.Catch != compiler.End {
			link(s.N, s.Catch, "error", "dotted")
		}
		if s.Kind == compiler.KTry && s.CatchEntry != s.Next {
			p.edges = append(p.edges, edge{id(s.N), id(s.CatchEntry), "catch", "dotted"})
		}
	}
	c.nodes = append(c.nodes, node{end, "end", "terminal", ""})
	// Hook calls point at the hook's start once every graph is known.
	for _, s := range g.States {
		if s.Hook != "" {
			p.edges = append(p.edges, edge{id(s.N), "hook:" + s.Hook, "starts", "dotted"})
		}
	}
}

// threads maps each state on a branch thread (parallel branch, forEach
// body) to the parallel or forEach state that owns the thread.
func threads(g *compiler.Graph) map[int]int {
	owner := map[int]int{}
	var walk func(entry, own int)
	walk = func(entry, own int) {
		stack := []int{entry}
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if n < 0 || n >= len(g.States) {
				continue
			}
			if _, seen := owner[n]; seen {
				continue
			}
			owner[n] = own
			s := g.States[n]
			stack = append(stack, s.Next, s.Catch)
			switch s.Kind {
			case compiler.KIf:
				stack = append(stack, s.Then, s.Else)
			case compiler.KSwitch:
				stack = append(stack, s.Default)
				for _, c := range s.Cases {
					stack = append(stack, c.Entry)
				}
			case compiler.KWhile, compiler.KTry:
				stack = append(stack, s.Body, s.CatchEntry)
			}
		}
	}
	for _, s := range g.States {
		if s.Kind == compiler.KParallel {
			for _, b := range s.Branches {
				walk(b, s.N)
			}
		}
		if s.Kind == compiler.KForEach && s.Hook == "" {
			walk(s.Body, s.N)
		}
	}
	return owner
}

func stateShape(k compiler.Kind) string {
	switch k {
	case compiler.KIf, compiler.KSwitch:
		return "decision"
	case compiler.KWhile:
		return "loop"
	case compiler.KWait, compiler.KSleep:
		return "wait"
	case compiler.KHook, compiler.KChild, compiler.KParallel, compiler.KForEach:
		return "call"
	case compiler.KReturn, compiler.KFail:
		return "round"
	}
	return "box"
}

func safeID(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, "_%x_", r)
		}
	}
	return b.String()
}

// resolve replaces "hook:NAME" edge ends by the hook's start node.
func (p *Picture) resolve(e edge) (edge, bool) {
	if name, ok := strings.CutPrefix(e.to, "hook:"); ok {
		to, known := p.starts[name]
		if !known {
			return e, false
		}
		e.to = to
	}
	return e, true
}

// Mermaid writes the picture as a Mermaid flowchart.
func (p *Picture) Mermaid(w interface{ Write([]byte) (int, error) }) {
	q := MermaidLabel
	fmt.Fprintln(w, "flowchart TD")
	for _, c := range p.clusters {
		fmt.Fprintf(w, "  subgraph %s[%s]\n", c.id, q(c.title))
		for _, n := range c.nodes {
			open, close := "[", "]"
			switch n.shape {
			case "decision":
				open, close = "{", "}"
			case "loop":
				open, close = "{{", "}}"
			case "wait":
				open, close = "[/", "/]"
			case "call":
				open, close = "[[", "]]"
			case "terminal":
				open, close = "([", "])"
			case "round":
				open, close = "(", ")"
			}
			fmt.Fprintf(w, "    %s%s%s%s\n", n.id, open, q(n.label), close)
		}
		fmt.Fprintln(w, "  end")
	}
	for _, e := range p.edges {
		e, ok := p.resolve(e)
		if !ok {
			continue
		}
		arrow := "-->"
		switch e.style {
		case "dotted":
			arrow = "-.->"
		case "thick":
			arrow = "==>"
		}
		if e.label != "" {
			fmt.Fprintf(w, "  %s %s|%s| %s\n", e.from, arrow, q(e.label), e.to)
		} else {
			fmt.Fprintf(w, "  %s %s %s\n", e.from, arrow, e.to)
		}
	}
}

// mermaidEntity matches what Mermaid reads as an entity code in a label:
// #name; or #digits;.
var mermaidEntity = regexp.MustCompile(`#\w+;`)

// MermaidLabel quotes s as a Mermaid flowchart label that renders as s.
// Inside a quoted label Mermaid's parser takes every character but '"', so
// only what a later stage would change is escaped, with the decimal entity
// codes Mermaid documents ("#34;" is '"'): the quote; a '#' that would start
// an entity code; a '<' that could open an HTML tag (followed by a letter,
// '/', '!' or '?'); an '&' that would start an HTML entity; a leading
// backtick, which makes a Markdown string. Comparisons such as `a > 100` or
// `n < 3` stay as written: Mermaid shows them as they are, while entity
// codes in edge labels and subgraph titles are not decoded by every
// renderer. Line breaks become spaces.
func MermaidLabel(s string) string {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
	s = mermaidEntity.ReplaceAllStringFunc(s, func(m string) string { return "#35;" + m[1:] })
	var b strings.Builder
	b.WriteByte('"')
	for i, r := range s {
		next := byte(0)
		if i+1 < len(s) {
			next = s[i+1]
		}
		switch {
		case r == '"':
			b.WriteString("#34;")
		case r == '<' && (next == '/' || next == '!' || next == '?' || next >= 'a' && next <= 'z' || next >= 'A' && next <= 'Z'):
			b.WriteString("#60;")
		case r == '&' && htmlEntityAt(s[i:]):
			b.WriteString("#38;")
		case r == '`' && i == 0:
			b.WriteString("#96;")
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// htmlEntityAt reports whether s starts with an HTML character reference
// (&name; or &#digits;).
func htmlEntityAt(s string) bool {
	return htmlEntity.MatchString(s)
}

var htmlEntity = regexp.MustCompile(`^&#?\w+;`)

// Dot writes the picture as a Graphviz digraph.
func (p *Picture) Dot(w interface{ Write([]byte) (int, error) }) {
	q := func(s string) string {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
	}
	shapes := map[string]string{"box": "box", "decision": "diamond", "loop": "hexagon", "wait": "parallelogram",
		"call": "box3d", "terminal": "ellipse", "round": "oval"}
	fmt.Fprintln(w, "digraph memflow {")
	fmt.Fprintln(w, "  node [fontname=\"Helvetica\", fontsize=10];")
	fmt.Fprintln(w, "  edge [fontname=\"Helvetica\", fontsize=9];")
	for _, c := range p.clusters {
		fmt.Fprintf(w, "  subgraph cluster_%s {\n    label=%s;\n", c.id, q(c.title))
		for _, n := range c.nodes {
			fmt.Fprintf(w, "    %s [label=%s, shape=%s];\n", n.id, q(n.label), shapes[n.shape])
		}
		fmt.Fprintln(w, "  }")
	}
	for _, e := range p.edges {
		e, ok := p.resolve(e)
		if !ok {
			continue
		}
		var attrs []string
		if e.label != "" {
			attrs = append(attrs, "label="+q(e.label))
		}
		switch e.style {
		case "dotted":
			attrs = append(attrs, "style=dashed")
		case "thick":
			attrs = append(attrs, "penwidth=2")
		}
		if len(attrs) > 0 {
			fmt.Fprintf(w, "  %s -> %s [%s];\n", e.from, e.to, strings.Join(attrs, ", "))
		} else {
			fmt.Fprintf(w, "  %s -> %s;\n", e.from, e.to)
		}
	}
	fmt.Fprintln(w, "}")
}
