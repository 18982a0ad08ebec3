package compiler

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/memflow/memflow/dsl"
)

// loader compiles one catalogue and collects its diagnostics.
type loader struct {
	opts      Options
	diags     dsl.Diagnostics
	entities  map[string]*entityDecl
	workflows map[string]*graphDecl
	hooks     map[string]*graphDecl
	wfOrder   []string
	hookOrder []string
	// shadowed are workflows and hooks declared again under a name taken
	// before: they are compiled only to report their own errors.
	shadowed []*graphDecl
	// entityIssues are entity field reads to report once every graph is
	// compiled (fields.go).
	entityIssues []fieldIssue
}

type entityDecl struct {
	name    string
	key     dsl.Node
	schema  json.RawMessage
	indexes []string
	// arrayIndexes are array fields indexed for "contains".
	arrayIndexes []string
}

type graphDecl struct {
	kind      string // "workflow" or "hook"
	name      string
	app       string
	taskQueue string
	key, node dsl.Node
	graph     *Graph
	children  []string
}

var (
	topKeys      = []string{"memflow", "app", "taskQueue", "entities", "workflows", "hooks"}
	entityKeys   = []string{"schema", "indexes", "arrayIndexes"}
	workflowKeys = []string{"entity", "taskQueue", "input", "timeout", "steps", "result"}
	hookKeys     = []string{"taskQueue", "input", "timeout", "steps", "result"}
	nameRE       = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
)

func (c *loader) add(sev dsl.Severity, p dsl.Pos, format string, args ...any) {
	c.diags = append(c.diags, dsl.Diagnostic{Pos: p, Severity: sev, Message: fmt.Sprintf(format, args...)})
}

func (c *loader) errorf(n dsl.Node, format string, args ...any) {
	c.add(dsl.Error, n.Pos(), format, args...)
}

func (c *loader) warnf(n dsl.Node, format string, args ...any) {
	c.add(dsl.Warning, n.Pos(), format, args...)
}

// mapping checks that n is a map and that its keys are among allowed (none
// when allowed is nil), reporting unknown keys (dsl.Parse reports duplicate
// keys, in every map of a file).
func (c *loader) mapping(n dsl.Node, what string, allowed []string) bool {
	if n.Kind() != dsl.Mapping {
		c.errorf(n, "%s must be a map, not %s", what, article(n))
		return false
	}
	seen := map[string]dsl.Node{}
	for _, p := range n.Pairs() {
		k := p.Key.Text()
		if _, dup := seen[k]; dup {
			continue // reported by dsl.Parse, for every map of the file
		}
		seen[k] = p.Key
		if k == "<<" && p.Key.Tag() == "!!merge" {
			c.errorf(p.Key, "YAML merge keys (<<) are not supported in flows: write the keys out (anchors and aliases of whole values work)")
			continue
		}
		if allowed != nil && !contains(allowed, k) {
			c.errorf(p.Key, "unknown key %q in %s%s", k, what, didYouMean(k, allowed))
		}
	}
	return true
}

// knownKeys reports keys of map n that are not in allowed.
func (c *loader) knownKeys(n dsl.Node, what string, allowed []string) {
	for _, p := range n.Pairs() {
		if k := p.Key.Text(); !contains(allowed, k) && p.Key.Tag() != "!!merge" {
			c.errorf(p.Key, "unknown key %q in %s%s", k, what, didYouMean(k, allowed))
		}
	}
}

func article(n dsl.Node) string {
	t := n.TypeName()
	switch t {
	case "integer", "list", "map", "number", "boolean", "string":
		if t == "integer" {
			return "an integer"
		}
		return "a " + t
	}
	return t
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// str reads a required string scalar.
func (c *loader) str(n dsl.Node, what string) (string, bool) {
	if !n.IsString() || n.Text() == "" {
		c.errorf(n, "%s must be a non-empty string, not %s", what, article(n))
		return "", false
	}
	return n.Text(), true
}

func (c *loader) load(files []*dsl.File) *Catalogue {
	c.entities = map[string]*entityDecl{}
	c.workflows = map[string]*graphDecl{}
	c.hooks = map[string]*graphDecl{}
	for _, f := range files {
		c.declare(f)
	}
	for _, name := range c.wfOrder {
		c.compileGraph(c.workflows[name])
	}
	for _, name := range c.hookOrder {
		c.compileGraph(c.hooks[name])
	}
	for _, d := range c.shadowed {
		c.compileGraph(d)
	}
	var all []*graphDecl
	for _, name := range c.wfOrder {
		all = append(all, c.workflows[name])
	}
	for _, name := range c.hookOrder {
		all = append(all, c.hooks[name])
	}
	all = append(all, c.shadowed...)
	c.reportEntityFields(all)
	c.checkSelfStart()
	cat := &Catalogue{Programs: map[string]*Program{}}
	for _, name := range c.wfOrder {
		d := c.workflows[name]
		cat.Programs[name] = c.program(d)
	}
	if err := versions(cat.Programs); err != nil {
		c.errorf(c.workflows[c.wfOrder[0]].key, "%v", err)
	}
	return cat
}

// declare reads a file's top level and records its entities, workflows and
// hooks, reporting duplicates across the catalogue.
func (c *loader) declare(f *dsl.File) {
	root := f.Root
	if !c.mapping(root, "a flow file", topKeys) {
		return
	}
	ver, verKey := root.Get("memflow")
	switch {
	case !verKey.Exists():
		c.errorf(root, "missing `memflow: v1` (the language version)")
	case ver.Text() != "v1":
		c.errorf(ver, "unsupported language version %q: this memflow reads v1", ver.Text())
	}
	app := c.opts.App
	if n, k := root.Get("app"); k.Exists() {
		if s, ok := c.str(n, "app"); ok {
			app = s
		}
	}
	var tq string
	if n, k := root.Get("taskQueue"); k.Exists() {
		tq, _ = c.str(n, "taskQueue")
	}
	if ents, k := root.Get("entities"); k.Exists() && !ents.IsNull() && c.mapping(ents, "entities", nil) {
		for _, p := range ents.Pairs() {
			c.declareEntity(p)
		}
	}
	for _, kind := range []string{"workflow", "hook"} {
		sec, k := root.Get(kind + "s")
		if !k.Exists() || sec.IsNull() || !c.mapping(sec, kind+"s", nil) {
			continue
		}
		for _, p := range sec.Pairs() {
			c.declareGraph(kind, app, tq, p)
		}
	}
}

func (c *loader) declareEntity(p dsl.Pair) {
	name := p.Key.Text()
	d := &entityDecl{name: name, key: p.Key}
	if prev, dup := c.entities[name]; dup {
		// Still check the duplicate's own declaration below. In one file
		// a duplicate is a duplicate key, which dsl.Parse reports.
		if prev.key.File() != p.Key.File() {
			c.errorf(p.Key, "duplicate entity type %q: also declared at %s", name, prev.key.Pos())
		}
	} else {
		c.entities[name] = d
	}
	if p.Value.IsNull() {
		return
	}
	if !c.mapping(p.Value, fmt.Sprintf("entity %q", name), entityKeys) {
		return
	}
	if s, k := p.Value.Get("schema"); k.Exists() {
		d.schema = c.schema(s, fmt.Sprintf("schema of entity %q", name))
	}
	for _, key := range []string{"indexes", "arrayIndexes"} {
		ix, k := p.Value.Get(key)
		if !k.Exists() {
			continue
		}
		if ix.Kind() != dsl.Sequence {
			c.errorf(ix, "%s must be a list of field paths, not %s", key, article(ix))
		}
		for _, it := range ix.Items() {
			if s, ok := c.str(it, "an index"); ok {
				if err := checkPath(s); err != nil {
					c.errorf(it, "bad index path %q: %v", s, err)
				} else if err := checkIndexKeys(s); err != nil {
					c.errorf(it, "bad index path %q: %v", s, err)
				}
				if key == "indexes" {
					d.indexes = append(d.indexes, s)
				} else {
					d.arrayIndexes = append(d.arrayIndexes, s)
				}
			}
		}
	}
}

func (c *loader) declareGraph(kind, app, tq string, p dsl.Pair) {
	name := p.Key.Text()
	table, order := c.workflows, &c.wfOrder
	if kind == "hook" {
		table, order = c.hooks, &c.hookOrder
	}
	if !nameRE.MatchString(name) {
		c.errorf(p.Key, "bad %s name %q: use letters, digits, '_', '-' and '.', starting with a letter", kind, name)
	}
	if prev, dup := table[name]; dup {
		// A copied file must not hide its own errors: its body is still
		// compiled, but nothing refers to it.
		if prev.key.File() != p.Key.File() { // else a duplicate key (dsl.Parse)
			c.errorf(p.Key, "duplicate %s %q: also defined at %s", kind, name, prev.key.Pos())
		}
		c.shadowed = append(c.shadowed, &graphDecl{kind: kind, name: name, app: app, taskQueue: tq, key: p.Key, node: p.Value})
		return
	}
	// A workflow and a hook may not share a name either: both are started
	// by name.
	other := c.hooks
	if kind == "hook" {
		other = c.workflows
	}
	if prev, dup := other[name]; dup {
		c.errorf(p.Key, "%s %q has the name of the %s defined at %s", kind, name, prev.kind, prev.key.Pos())
	}
	table[name] = &graphDecl{kind: kind, name: name, app: app, taskQueue: tq, key: p.Key, node: p.Value}
	*order = append(*order, name)
}

// program assembles a workflow's program: its graph and every hook of its
// app.
func (c *loader) program(d *graphDecl) *Program {
	p := &Program{
		Name:      d.name,
		App:       d.app,
		File:      d.key.File().Name,
		TaskQueue: d.graph.TaskQueue,
		Workflow:  d.graph,
		Hooks:     map[string]*Graph{},
	}
	if e, _ := d.node.Get("entity"); e.IsString() {
		p.Entity = e.Text()
	}
	if ent := c.entities[p.Entity]; ent != nil {
		p.EntitySchema = ent.schema
		p.Indexes = ent.indexes
		p.ArrayIndexes = ent.arrayIndexes
	}
	children := map[string]bool{}
	for _, ch := range d.children {
		children[ch] = true
	}
	for _, name := range c.hookOrder {
		h := c.hooks[name]
		if h.app != d.app {
			continue
		}
		p.Hooks[name] = h.graph
		for _, ch := range h.children {
			children[ch] = true
		}
	}
	if len(p.Hooks) == 0 {
		p.Hooks = nil
	}
	for ch := range children {
		p.Children = append(p.Children, ch)
	}
	sort.Strings(p.Children)
	return p
}

func (c *loader) workflowNames() []string { return c.wfOrder }

func (c *loader) hookNames(app string) []string {
	var out []string
	for _, n := range c.hookOrder {
		if c.hooks[n].app == app {
			out = append(out, n)
		}
	}
	return out
}

// checkPath validates a constant entity path: dotted segments, with
// ["quoted"] segments for keys holding dots.
// checkIndexKeys applies the store's rule for indexed fields to a path
// checkPath accepted: 1 to 32 keys, each 1 to 128 letters, digits, '_' or
// '-'. The store renders the keys into SQL and refuses any other; checking
// here makes validate report it instead of the first load failing.
func checkIndexKeys(p string) error {
	var keys []string
	for i := 0; i < len(p); {
		switch p[i] {
		case '.':
			i++
		case '[': // a quoted key: checkPath saw its closing quote and ']'
			k := strings.IndexByte(p[i+2:], p[i+1])
			keys = append(keys, p[i+2:i+2+k])
			i += k + 4
		default:
			j := i
			for j < len(p) && p[j] != '.' && p[j] != '[' {
				j++
			}
			keys = append(keys, p[i:j])
			i = j
		}
	}
	if len(keys) > 32 {
		return fmt.Errorf("%d keys, at most 32 can be indexed", len(keys))
	}
	for _, k := range keys {
		if k == "" || len(k) > 128 || strings.TrimLeft(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "" {
			return fmt.Errorf("key %q: indexed fields take 1 to 128 letters, digits, '_' and '-' in each key", k)
		}
	}
	return nil
}

func checkPath(p string) error {
	if p == "" {
		return fmt.Errorf("empty path")
	}
	i := 0
	expectSeg := true
	for i < len(p) {
		switch {
		case p[i] == '[':
			j := i + 1
			if j >= len(p) || (p[j] != '"' && p[j] != '\'') {
				return fmt.Errorf("expected a quoted key after '[' at offset %d", i)
			}
			q := p[j]
			k := strings.IndexByte(p[j+1:], q)
			if k < 0 || j+1+k+1 >= len(p) || p[j+1+k+1] != ']' {
				return fmt.Errorf("unterminated [%c...%c] at offset %d", q, q, i)
			}
			i = j + 1 + k + 2
			expectSeg = false
		case p[i] == '.':
			if expectSeg {
				return fmt.Errorf("empty segment at offset %d", i)
			}
			expectSeg = true
			i++
		default:
			if !expectSeg {
				return fmt.Errorf("expected '.' or '[' at offset %d", i)
			}
			j := i
			for j < len(p) && p[j] != '.' && p[j] != '[' {
				j++
			}
			i = j
			expectSeg = false
		}
	}
	if expectSeg {
		return fmt.Errorf("path ends with '.'")
	}
	return nil
}
