package compiler

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/memflow/memflow/dsl"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// topNames are the names every expression sees.
var topNames = []string{"input", "entity", "steps", "workflow", "now", "uuid"}

// expr compiles a field that is one expression: `${ EXPR }`, or bare
// expression text (`when: input.ok`).
func (b *builder) expr(n dsl.Node, what string, sc *scope) *Expr {
	if n.Kind() != dsl.Scalar {
		b.c.errorf(n, "%s must be an expression such as ${ entity.ready }, not %s", what, article(n))
		return nil
	}
	text := n.Text()
	if !n.IsString() { // true, 3, null: a literal expression
		e, err := NewExpr(text, pos(n), sc.vars)
		if err != nil {
			b.c.errorf(n, "%s: %s", what, b.exprMessage(err, text, sc))
			return nil
		}
		return e
	}
	if !strings.Contains(text, "${") {
		return b.compileExpr(n, text, 0, what, sc)
	}
	segs, err := SplitTemplate(text)
	if err != nil {
		b.c.errorf(n, "%s: %v", what, err)
		return nil
	}
	if len(segs) != 1 || !segs[0].IsExpr {
		b.c.errorf(n, "%s must be exactly one ${ } expression, without text around it", what)
		return nil
	}
	return b.compileExpr(n, segs[0].Text, exprStart(text, segs[0]), what, sc)
}

// exprStart is the byte offset of a segment's (trimmed) text in s.
func exprStart(s string, seg Segment) int {
	rest := s[seg.Offset:]
	return seg.Offset + len(rest) - len(strings.TrimLeft(rest, " \t\r\n"))
}

// compileExpr compiles src found at byte offset off of scalar n, reporting
// errors at their exact position, and checks its steps.<id> references.
func (b *builder) compileExpr(n dsl.Node, src string, off int, what string, sc *scope) *Expr {
	at := n.PosAt(off)
	e, err := NewExpr(src, Pos{File: at.File, Line: at.Line, Col: at.Col}, sc.vars)
	if err != nil {
		var fe *file.Error
		p := at
		if errors.As(err, &fe) {
			p = n.PosAt(off + runeToByte(src, fe.From))
		}
		b.c.add(dsl.Error, p, "%s", b.exprMessage(err, src, sc))
		return nil
	}
	b.checkStepRefs(n, src, off, sc)
	b.checkFields(n, src, off)
	return e
}

func runeToByte(s string, r int) int {
	if r <= 0 {
		return 0
	}
	i := 0
	for j := range s {
		if i == r {
			return j
		}
		i++
	}
	return len(s)
}

var (
	coalesceRE = regexp.MustCompile(`^Operator \((.+)\) and coalesce expressions \(\?\?\) cannot be mixed`)
	unknownRE  = regexp.MustCompile(`^unknown name ([A-Za-z_$][A-Za-z0-9_$]*)`)
	fieldRE    = regexp.MustCompile(`^unknown field ([A-Za-z_$][A-Za-z0-9_$]*)`)
)

// exprMessage turns an expr error into a message that says how to fix it.
func (b *builder) exprMessage(err error, src string, sc *scope) string {
	var fe *file.Error
	if !errors.As(err, &fe) {
		return fmt.Sprintf("bad expression %q: %v", src, err)
	}
	msg := fe.Message
	if m := coalesceRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("expression mixes ?? with %s without parentheses: write `a ?? (b %s c)` or `(a ?? b) %s c`", m[1], m[1], m[1])
	}
	if m := unknownRE.FindStringSubmatch(msg); m != nil {
		name := m[1]
		if isCallee(src, fe.From) {
			return fmt.Sprintf("unknown function %s()%s", name, didYouMean(name, append(append([]string{}, builtin.Names...), "now", "uuid")))
		}
		names := append(append([]string{}, topNames...), sc.vars...)
		sort.Strings(names)
		hint := didYouMean(name, names)
		if hint == "" {
			hint = " (in scope: " + strings.Join(names, ", ") + ")"
		}
		return fmt.Sprintf("unknown name %q in expression%s", name, hint)
	}
	if m := fieldRE.FindStringSubmatch(msg); m != nil {
		// Only `workflow` has known fields.
		fields := []string{"id", "name", "entity", "taskQueue", "startedAt"}
		return fmt.Sprintf("unknown field %q of workflow%s (it has %s)", m[1], didYouMean(m[1], fields), strings.Join(fields, ", "))
	}
	return "bad expression: " + msg
}

// isCallee reports whether the identifier at rune offset from is called.
func isCallee(src string, from int) bool {
	tree, err := parser.Parse(src)
	if err != nil {
		return false
	}
	found := false
	ast.Find(tree.Node, func(n ast.Node) bool {
		if c, ok := n.(*ast.CallNode); ok {
			if id, ok := c.Callee.(*ast.IdentifierNode); ok && id.Location().From == from {
				found = true
			}
		}
		return found
	})
	return found
}

// checkStepRefs reports steps.<id> uses of ids that are unknown or cannot
// have completed at this point.
func (b *builder) checkStepRefs(n dsl.Node, src string, off int, sc *scope) {
	tree, err := parser.Parse(src)
	if err != nil {
		return
	}
	var refs []*ast.MemberNode
	ast.Find(tree.Node, func(x ast.Node) bool {
		if m, ok := x.(*ast.MemberNode); ok {
			if id, ok := m.Node.(*ast.IdentifierNode); ok && id.Value == "steps" {
				if _, ok := m.Property.(*ast.StringNode); ok {
					refs = append(refs, m)
				}
			}
		}
		return false
	})
	for _, m := range refs {
		id := m.Property.(*ast.StringNode).Value
		p := n.PosAt(off + runeToByte(src, m.Property.Location().From))
		if _, known := b.ids[id]; !known {
			ids := make([]string, 0, len(b.ids))
			for k := range b.ids {
				ids = append(ids, k)
			}
			b.c.add(dsl.Error, p, "unknown step %q in steps.%s%s", id, id, didYouMean(id, ids))
			continue
		}
		if sc.avail[id] {
			continue
		}
		why := sc.why[id]
		if why == "" {
			why = "it runs after this point"
		}
		b.c.add(dsl.Error, p, "steps.%s is not available here: %s (step %q is at line %d)", id, why, id, b.ids[id].Pos().Line)
	}
}

// value compiles a template node: every string (and map key) holding
// `${ }` is checked where it is written.
func (b *builder) value(n dsl.Node, sc *scope) *Value {
	raw, err := n.Value()
	if err != nil {
		b.c.errorf(n, "bad value: %v", err)
		return nil
	}
	before := len(b.c.diags.Errors())
	t := &templates{positions: map[string]Pos{}, parts: map[string][]part{}}
	b.checkTemplates(n, sc, 0, t)
	if len(b.c.diags.Errors()) > before {
		return nil
	}
	if len(t.positions) == 0 {
		t.positions = nil
	}
	// The expressions are compiled already: seed the template with them.
	v := &Value{Raw: raw, Pos: pos(n), Scope: sc.vars, Positions: t.positions, exprs: t.parts}
	if err := v.compile(); err != nil {
		b.c.errorf(n, "%v", err)
		return nil
	}
	return v
}

// templates collects, for one value, where each template string's first
// expression is written and its compiled parts.
type templates struct {
	positions map[string]Pos
	parts     map[string][]part
}

// checkTemplates checks every template string under n and records where
// each one's first expression is written (the first occurrence of a string
// wins; a template's strings are compiled once each).
func (b *builder) checkTemplates(n dsl.Node, sc *scope, depth int, t *templates) {
	if depth > 200 {
		return
	}
	switch n.Kind() {
	case dsl.Scalar:
		if n.IsExpr() {
			b.checkTemplate(n, sc, t)
		} else if n.IsString() && !b.inPath {
			b.checkLookalike(n, sc)
		}
	case dsl.Sequence:
		for _, it := range n.Items() {
			b.checkTemplates(it, sc, depth+1, t)
		}
	case dsl.Mapping:
		for _, p := range n.Pairs() {
			if p.Key.IsExpr() {
				b.checkTemplate(p.Key, sc, t)
			}
			b.checkTemplates(p.Value, sc, depth+1, t)
		}
	}
}

func (b *builder) checkTemplate(n dsl.Node, sc *scope, t *templates) {
	s := n.Text()
	if _, done := t.parts[s]; done {
		return
	}
	segs, err := SplitTemplate(s)
	if err != nil {
		b.c.add(dsl.Error, n.PosAt(strings.Index(s, "${")), "%v", err)
		return
	}
	parts := make([]part, 0, len(segs))
	ok := true
	for _, seg := range segs {
		if !seg.IsExpr {
			parts = append(parts, part{lit: seg.Text})
			continue
		}
		off := exprStart(s, seg)
		if _, seen := t.positions[s]; !seen {
			p := n.PosAt(off)
			t.positions[s] = Pos{File: p.File, Line: p.Line, Col: p.Col}
		}
		e := b.compileExpr(n, seg.Text, off, "expression", sc)
		if e == nil {
			ok = false
			continue
		}
		// Runtime errors name where the template string starts its first
		// expression, as a decoded program's lazily compiled ones do.
		e.Pos = t.positions[s]
		parts = append(parts, part{expr: e})
	}
	if ok {
		t.parts[s] = parts
	}
}

// refuseLoader keeps JSON Schemas from loading anything: no files, no
// network.
type refuseLoader struct{}

func (refuseLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schemas may not load %q: only local #/$defs references are allowed", url)
}

// schema compiles a JSON Schema written in a flow (draft 2020-12 unless it
// says otherwise) and returns it as JSON.
func (c *loader) schema(n dsl.Node, what string) json.RawMessage {
	raw, err := n.Value()
	if err != nil {
		c.errorf(n, "bad %s: %v", what, err)
		return nil
	}
	data, err := json.Marshal(raw)
	if err != nil {
		c.errorf(n, "bad %s: %v", what, err)
		return nil
	}
	if _, err := CompileSchema(data); err != nil {
		p := n
		var se *jsonschema.SchemaValidationError
		msg := err.Error()
		if errors.As(err, &se) {
			var ve *jsonschema.ValidationError
			if errors.As(se.Err, &ve) {
				leaves := Leaves(ve)
				if len(leaves) > 0 {
					p = n.At(leaves[0].InstanceLocation)
					msg = LeafMessage(leaves[0])
				}
			}
		}
		c.errorf(p, "bad %s: %s", what, msg)
		return nil
	}
	return data
}

// CompileSchema compiles a JSON Schema document (draft 2020-12 by default).
// References outside the document are refused.
func CompileSchema(data []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft2020)
	comp.UseLoader(refuseLoader{})
	const url = "memflow:///schema.json"
	if err := comp.AddResource(url, doc); err != nil {
		return nil, err
	}
	return comp.Compile(url)
}

// Leaves returns the innermost errors of a validation error. Of the
// alternatives of a failed anyOf or oneOf, only the best match is kept: the
// one whose errors reach deepest into the instance (it matched the most),
// then the one with the fewest errors.
func Leaves(ve *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return []*jsonschema.ValidationError{ve}
	}
	switch ve.ErrorKind.(type) {
	case *kind.PropertyNames:
		return []*jsonschema.ValidationError{ve} // its causes locate nothing
	case *kind.AnyOf, *kind.OneOf:
		var best []*jsonschema.ValidationError
		bestDepth := -1
		for _, c := range ve.Causes {
			l := Leaves(c)
			d := 0
			for _, e := range l {
				d = max(d, len(e.InstanceLocation))
			}
			if d > bestDepth || (d == bestDepth && len(l) < len(best)) {
				best, bestDepth = l, d
			}
		}
		return best
	}
	var out []*jsonschema.ValidationError
	for _, c := range ve.Causes {
		out = append(out, Leaves(c)...)
	}
	return out
}

// LeafMessage is a leaf error's message without its location prefix.
func LeafMessage(ve *jsonschema.ValidationError) string {
	msg := ve.Error()
	if strings.HasPrefix(msg, "at '") {
		// "at '<pointer>': message"
		if i := strings.Index(msg, "': "); i >= 0 {
			return msg[i+3:]
		}
	}
	return msg
}
