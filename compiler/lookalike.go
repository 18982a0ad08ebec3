package compiler

import (
	"regexp"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/parser"
	"github.com/memflow/memflow/dsl"
)

// Expression look-alikes: plain text in a value that reads like an
// expression over the flow's scope is stored as that text, which is almost
// never what was meant (`by: steps.approval.by`, `at: now()`,
// `"$input.id"`, `"{{ input.id }}"`). Such text gets a warning with the
// fix. The test is deliberately narrow, so ordinary prose, URLs and file
// names stay quiet: the whole text must parse as an expression, every name
// in it must be in scope (input, entity, steps, workflow, the forEach and
// catch variables) or a known function, and it must read a field of one of
// them (steps.<a step id of this graph>, workflow.<one of its fields>) or
// call now() or uuid(). root.ext with a file extension (input.csv) is left
// alone.

// maxLookalike is the longest text checked.
const maxLookalike = 200

// lookScope is what a look-alike may name.
type lookScope struct {
	vars  []string        // forEach and catch variables in scope
	steps map[string]bool // step ids of the graph
}

var (
	mustacheRE = regexp.MustCompile(`\{\{\s*(.*?)\s*\}\}`)
	dollarRE   = regexp.MustCompile(`^\$[A-Za-z_]`)
	// fileExts are extensions that make root.ext a file name.
	fileExts = map[string]bool{
		"csv": true, "json": true, "jsonl": true, "txt": true, "log": true, "pdf": true, "md": true, "yaml": true,
		"yml": true, "xml": true, "html": true, "htm": true, "png": true, "jpg": true, "jpeg": true, "gif": true,
		"svg": true, "gz": true, "zip": true, "tar": true, "sql": true, "go": true, "py": true, "js": true, "ts": true,
		"sh": true, "doc": true, "docx": true, "xls": true, "xlsx": true, "tmp": true, "bak": true, "env": true,
	}
	workflowFields = []string{"id", "name", "entity", "taskQueue", "startedAt"}
)

// lookalike returns the template text meant by plain text s when s reads
// like an expression over the scope.
func lookalike(s string, sc lookScope) (string, bool) {
	if len(s) > maxLookalike || strings.ContainsAny(s, "\n\r") || strings.Contains(s, "${") {
		return "", false
	}
	// {{ expr }} templating, alone or inside text.
	if strings.Contains(s, "{{") {
		found := false
		out := mustacheRE.ReplaceAllStringFunc(s, func(m string) string {
			inner := mustacheRE.FindStringSubmatch(m)[1]
			if exprOverScope(inner, sc, true) {
				found = true
				return "${ " + inner + " }"
			}
			return m
		})
		return out, found
	}
	t := strings.TrimSpace(s)
	// $name or $name.field, shell or JSONPath style.
	if dollarRE.MatchString(t) {
		if rest := t[1:]; exprOverScope(rest, sc, true) {
			return "${ " + rest + " }", true
		}
		return "", false
	}
	if !strings.ContainsAny(t, ".([") {
		return "", false // neither a field read nor a call
	}
	if exprOverScope(t, sc, false) {
		return "${ " + t + " }", true
	}
	return "", false
}

// exprOverScope reports whether src parses as an expression naming only the
// scope and known functions and reading the scope (see above). bare accepts
// a scope name alone (`$item`), where the markup already shows the intent.
func exprOverScope(src string, sc lookScope, bare bool) bool {
	if src == "" || strings.HasPrefix(src, "$") {
		return false
	}
	tree, err := parser.Parse(src)
	if err != nil {
		return false
	}
	roots := map[string]bool{"input": true, "entity": true, "steps": true, "workflow": true}
	for _, v := range sc.vars {
		roots[v] = true
	}
	funcs := map[string]bool{"now": true, "uuid": true}
	for _, n := range builtin.Names {
		funcs[n] = true
	}
	callees := map[ast.Node]bool{}
	reads := false
	ok := true
	ast.Find(tree.Node, func(x ast.Node) bool {
		switch t := x.(type) {
		case *ast.CallNode:
			id, isID := t.Callee.(*ast.IdentifierNode)
			if !isID || !funcs[id.Value] {
				ok = false
				break
			}
			callees[id] = true
			if (id.Value == "now" || id.Value == "uuid") && len(t.Arguments) == 0 {
				reads = true
			}
		case *ast.BuiltinNode:
			if !funcs[t.Name] {
				ok = false
			}
			if t.Name == "now" && len(t.Arguments) == 0 {
				reads = true
			}
		case *ast.MemberNode:
			id, isID := t.Node.(*ast.IdentifierNode)
			prop, isStr := t.Property.(*ast.StringNode)
			if !isID || !isStr || !roots[id.Value] {
				break
			}
			switch id.Value {
			case "steps":
				reads = reads || sc.steps[prop.Value]
			case "workflow":
				reads = reads || contains(workflowFields, prop.Value)
			default:
				reads = reads || !(tree.Node == ast.Node(t) && fileExts[strings.ToLower(prop.Value)])
			}
		}
		return false
	})
	if !ok {
		return false
	}
	idents := 0
	ast.Find(tree.Node, func(x ast.Node) bool {
		if id, isID := x.(*ast.IdentifierNode); isID && !callees[id] {
			idents++
			if !roots[id.Value] {
				ok = false
			}
		}
		return false
	})
	if bare && ok && idents == 1 {
		if id, isID := tree.Node.(*ast.IdentifierNode); isID && roots[id.Value] && id.Value != "steps" {
			return true
		}
	}
	return ok && reads
}

// checkLookalike warns when string scalar n holds plain text that reads
// like an expression.
func (b *builder) checkLookalike(n dsl.Node, sc *scope) {
	steps := make(map[string]bool, len(b.ids))
	for id := range b.ids {
		steps[id] = true
	}
	s := n.Text()
	fix, ok := lookalike(s, lookScope{vars: sc.vars, steps: steps})
	if !ok {
		return
	}
	b.c.warnf(n, "%q is plain text, stored as it is written: did you mean %q?", s, fix)
}
