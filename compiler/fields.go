package compiler

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/memflow/memflow/dsl"
)

// Field checks: where a workflow or hook declares an input schema, or a
// workflow's entity type declares a schema, `input.X` and `entity.X` in its
// expressions are checked against the fields the schema declares, following
// nested `properties` (and `items` for [n]). A field is unknown when the
// schema object there has `properties`, the name is not among them, and
// neither `additionalProperties` nor `unevaluatedProperties` is true or a
// schema. An object whose fields a schema cannot list statically
// (patternProperties, allOf, anyOf, oneOf, not, if, dependentSchemas, or a
// $ref other than a local #/... pointer) is not checked. Entity fields that
// a command of the same app writes (a constant path, or a key of a set or
// merge value) count as declared, since a schema without
// `additionalProperties: false` lets the flow add them; so does anything
// under a value, key or path the commands compute with an expression.

// fieldSchema is a decoded JSON Schema (nil: nothing known).
type fieldSchema struct {
	root any
}

func newFieldSchema(raw json.RawMessage) *fieldSchema {
	if len(raw) == 0 {
		return nil
	}
	var root any
	if err := json.Unmarshal(raw, &root); err != nil {
		return nil
	}
	return &fieldSchema{root: root}
}

// undecidable keywords make the set of an object's fields not static.
var undecidable = []string{"patternProperties", "allOf", "anyOf", "oneOf", "not", "if", "dependentSchemas", "$dynamicRef"}

// deref follows local $ref pointers (#/$defs/x); nil when it cannot.
func (s *fieldSchema) deref(n any) map[string]any {
	for range 20 {
		m, ok := n.(map[string]any)
		if !ok {
			return nil
		}
		ref, has := m["$ref"].(string)
		if !has {
			return m
		}
		if len(m) > 1 && !onlyAnnotations(m) {
			return nil // $ref next to other keywords: combined, not checked
		}
		if !strings.HasPrefix(ref, "#") {
			return nil
		}
		n = pointer(s.root, strings.TrimPrefix(ref, "#"))
	}
	return nil
}

// onlyAnnotations reports whether m holds $ref and nothing but annotations.
func onlyAnnotations(m map[string]any) bool {
	for k := range m {
		switch k {
		case "$ref", "description", "title", "$comment", "examples", "default":
		default:
			return false
		}
	}
	return true
}

// pointer follows a JSON pointer (without its leading #) in doc.
func pointer(doc any, p string) any {
	if p == "" {
		return doc
	}
	if !strings.HasPrefix(p, "/") {
		return nil
	}
	cur := doc
	for _, tok := range strings.Split(p[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[tok]
	}
	return cur
}

// field looks name up in schema node n: the field's schema, or unknown=true
// when n declares its fields and name is not one of them (with the declared
// names).
func (s *fieldSchema) field(n any, name string) (sub any, unknown bool, declared []string) {
	m := s.deref(n)
	if m == nil {
		return nil, false, nil
	}
	for _, k := range undecidable {
		if _, has := m[k]; has {
			return nil, false, nil
		}
	}
	props, ok := m["properties"].(map[string]any)
	if !ok {
		return nil, false, nil
	}
	if p, has := props[name]; has {
		return p, false, nil
	}
	for _, k := range []string{"additionalProperties", "unevaluatedProperties"} {
		if v, has := m[k]; has && v != false {
			return nil, false, nil
		}
	}
	for k := range props {
		declared = append(declared, k)
	}
	sort.Strings(declared)
	return nil, true, declared
}

// item is the schema of an array's items, or nil.
func (s *fieldSchema) item(n any) any {
	m := s.deref(n)
	if m == nil {
		return nil
	}
	if it, ok := m["items"].(map[string]any); ok {
		return it
	}
	return nil
}

// fieldIssue is an access to a field a schema does not declare.
type fieldIssue struct {
	pos      dsl.Pos
	root     string // input or entity
	path     string // the object read: input, input.customer, ...
	name     string
	declared []string
	app      string // for entity issues: the app whose writes may declare it
}

func (i fieldIssue) message() string {
	list := i.declared
	more := ""
	if len(list) > 8 {
		list, more = list[:8], ", ..."
	}
	return fmt.Sprintf("%s has no field %q%s: the %s schema declares %s%s (or allow others with additionalProperties: true)",
		i.path, i.name, didYouMean(i.name, i.declared), i.root, strings.Join(list, ", "), more)
}

// checkFields reports input.X and entity.X reads of fields the schemas do
// not declare. Entity issues wait until every graph is compiled (see
// loader.reportEntityFields).
func (b *builder) checkFields(n dsl.Node, src string, off int) {
	if b.input == nil && b.entity == nil {
		return
	}
	tree, err := parser.Parse(src)
	if err != nil {
		return
	}
	schemas := map[string]*fieldSchema{"input": b.input, "entity": b.entity}
	// resolve returns the schema node a member chain reads and its path
	// (nil when unknown).
	var resolve func(x ast.Node) (*fieldSchema, any, string)
	resolve = func(x ast.Node) (*fieldSchema, any, string) {
		switch t := x.(type) {
		case *ast.IdentifierNode:
			if s := schemas[t.Value]; s != nil {
				return s, s.root, t.Value
			}
		case *ast.ChainNode:
			return resolve(t.Node)
		case *ast.MemberNode:
			s, base, path := resolve(t.Node)
			if s == nil {
				return nil, nil, ""
			}
			switch p := t.Property.(type) {
			case *ast.StringNode:
				sub, _, _ := s.field(base, p.Value)
				if sub == nil {
					return nil, nil, ""
				}
				return s, sub, path + "." + p.Value
			case *ast.IntegerNode:
				if it := s.item(base); it != nil {
					return s, it, fmt.Sprintf("%s[%d]", path, p.Value)
				}
			}
		}
		return nil, nil, ""
	}
	ast.Find(tree.Node, func(x ast.Node) bool {
		m, ok := x.(*ast.MemberNode)
		if !ok {
			return false
		}
		p, ok := m.Property.(*ast.StringNode)
		if !ok {
			return false
		}
		s, base, path := resolve(m.Node)
		if s == nil {
			return false
		}
		if _, unknown, declared := s.field(base, p.Value); unknown {
			root := path
			if i := strings.IndexAny(root, ".["); i >= 0 {
				root = root[:i]
			}
			is := fieldIssue{pos: n.PosAt(off + runeToByte(src, p.Location().From)), root: root, path: path, name: p.Value, declared: declared}
			if root == "entity" {
				is.app = b.d.app
				b.c.entityIssues = append(b.c.entityIssues, is)
			} else {
				b.c.add(dsl.Error, is.pos, "%s", is.message())
			}
		}
		return false
	})
}

// reportEntityFields reports the entity field issues, except reads of
// fields that a command of the same app may write.
func (c *loader) reportEntityFields(graphs []*graphDecl) {
	if len(c.entityIssues) == 0 {
		return
	}
	writes := map[string]*entityWrites{} // by app
	for _, d := range graphs {
		if d.graph == nil {
			continue
		}
		w := writes[d.app]
		if w == nil {
			w = &entityWrites{paths: map[string]bool{}, open: map[string]bool{}}
			writes[d.app] = w
		}
		for _, st := range d.graph.States {
			for _, cmd := range st.Commands {
				w.add(cmd)
			}
		}
	}
	for _, is := range c.entityIssues {
		p := strings.TrimPrefix(strings.TrimPrefix(is.path, "entity"), ".")
		if p != "" {
			p += "."
		}
		if w := writes[is.app]; w != nil && w.covers(p+is.name) {
			continue
		}
		c.add(dsl.Error, is.pos, "%s", is.message())
	}
}

// entityWrites are the entity paths an app's commands write: paths named
// in full, and open paths under which anything may be written (a value or
// key that is an expression; "" is the whole document).
type entityWrites struct {
	paths, open map[string]bool
}

func (w *entityWrites) add(cmd Command) {
	prefix := ""
	if cmd.Path != nil {
		p, ok := cmd.Path.Raw.(string)
		if !ok || strings.Contains(p, "${") {
			w.open[""] = true // a computed path may write anything
			return
		}
		prefix = p
		for i := range len(p) {
			if p[i] == '.' || p[i] == '[' {
				w.paths[p[:i]] = true
			}
		}
		w.paths[p] = true
	}
	if cmd.Value != nil && (cmd.Op == "set" || cmd.Op == "merge" || cmd.Op == "setIfNotExists") {
		w.addValue(prefix, cmd.Value.Raw, 0)
	}
}

// addValue records the paths a value written at prefix creates (map keys
// are literal keys, not paths).
func (w *entityWrites) addValue(prefix string, v any, depth int) {
	switch t := v.(type) {
	case string:
		if strings.Contains(t, "${") {
			w.open[prefix] = true
		}
	case map[string]any:
		if depth > 20 {
			w.open[prefix] = true
			return
		}
		for k, x := range t {
			if strings.Contains(k, "${") {
				w.open[prefix] = true
				continue
			}
			if strings.ContainsAny(k, ".[") {
				continue // a literal key a dotted read does not name
			}
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			w.paths[p] = true
			w.addValue(p, x, depth+1)
		}
	}
}

// covers reports whether a read of dotted path p may find a written field.
func (w *entityWrites) covers(p string) bool {
	if w.paths[p] || w.open[""] || w.open[p] {
		return true
	}
	for i := range len(p) {
		if (p[i] == '.' || p[i] == '[') && w.open[p[:i]] {
			return true
		}
	}
	return false
}
