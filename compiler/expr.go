package compiler

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/types"
	"github.com/expr-lang/expr/vm"
)

// MaxExprNodes bounds the size of one expression's syntax tree.
const MaxExprNodes = 2000

// Expr is one expression: Src is the text inside `${ }`. Scope lists the
// scoped names (forEach item/index, catch error) it was compiled with.
type Expr struct {
	Src   string   `json:"src"`
	Pos   Pos      `json:"pos"`
	Scope []string `json:"scope,omitempty"`

	once sync.Once
	prog *vm.Program
	err  error
}

// NewExpr compiles src against the typed environment plus scope names.
func NewExpr(src string, pos Pos, scope []string) (*Expr, error) {
	e := &Expr{Src: src, Pos: pos, Scope: scope}
	return e, e.compile()
}

func (e *Expr) compile() error {
	e.once.Do(func() {
		opts := []expr.Option{
			expr.Env(compileEnv(e.Scope)),
			expr.DisableBuiltin("now"),
			expr.MaxNodes(MaxExprNodes),
		}
		opts = append(opts, limitOptions()...)
		e.prog, e.err = expr.Compile(e.Src, opts...)
		if e.err != nil {
			e.err = fmt.Errorf("%s: %w", e.Pos, e.err)
		}
	})
	return e.err
}

// compileEnv is the typed environment expressions are checked against.
func compileEnv(scope []string) types.Map {
	env := types.Map{
		"input":  types.Any,
		"entity": types.Any,
		"steps":  types.Any,
		"workflow": types.Map{
			"id": types.String, "name": types.String, "entity": types.String,
			"taskQueue": types.String, "startedAt": types.TypeOf(time.Time{}),
		},
		"now":       types.TypeOf(func() time.Time { return time.Time{} }),
		"uuid":      types.TypeOf(func() string { return "" }),
		"random":    types.TypeOf(func() float64 { return 0 }),
		"randomInt": types.TypeOf(randomInt),
		"urlquery":  types.TypeOf(func(string) string { return "" }),
		budgetVar:   types.TypeOf(&budget{}),
	}
	for _, s := range scope {
		env[s] = types.Any
	}
	return env
}

func runEnv(env *Env, scope []string) map[string]any {
	now := time.Now
	if env.Now != nil {
		now = env.Now
	}
	steps := env.Steps
	if steps == nil {
		steps = map[string]any{}
	}
	m := map[string]any{
		"input":  env.Input,
		"entity": env.Entity,
		"steps":  steps,
		"workflow": map[string]any{
			"id": env.Workflow.ID, "name": env.Workflow.Name, "entity": env.Workflow.Entity,
			"taskQueue": env.Workflow.TaskQueue, "startedAt": env.Workflow.StartedAt,
		},
		"now":       now,
		"uuid":      newUUID,
		"random":    rand.Float64,
		"randomInt": randomInt,
		"urlquery":  url.QueryEscape,
	}
	for _, s := range scope {
		m[s] = env.Vars[s]
	}
	return m
}

// Eval evaluates the expression against env, within the limits of
// limits.go: going over one is a *LimitError.
func (e *Expr) Eval(env *Env) (any, error) {
	return e.eval(env, &budget{})
}

// eval evaluates the expression, charging what it builds to b.
func (e *Expr) eval(env *Env, b *budget) (any, error) {
	if err := e.compile(); err != nil {
		return nil, err
	}
	m := runEnv(env, e.Scope)
	m[budgetVar] = b
	machine := vm.VM{MemoryBudget: MaxExprItems}
	out, err := machine.Run(e.prog, m)
	if err == nil {
		err = b.charge(out)
	}
	if err != nil {
		var hit *limitHit
		if errors.As(err, &hit) {
			return nil, &LimitError{Pos: e.Pos, Src: e.Src, Limit: hit.limit, Detail: hit.detail}
		}
		var fe *file.Error
		if errors.As(err, &fe) && fe.Message == memoryBudgetMsg {
			return nil, &LimitError{Pos: e.Pos, Src: e.Src, Limit: "MaxExprItems",
				Detail: fmt.Sprintf("over %d list or map elements built", MaxExprItems)}
		}
		return nil, fmt.Errorf("%s: expression %q: %w", e.Pos, e.Src, err)
	}
	return out, nil
}

// Value is a template: a JSON value whose strings may hold expressions.
type Value struct {
	Raw   any      `json:"raw"`
	Scope []string `json:"scope,omitempty"`
	Pos   Pos      `json:"pos"`
	// Positions holds, for template strings not at Pos (inside a map or a
	// list), where their first expression is written, so evaluation errors
	// name the expression's own line.
	Positions map[string]Pos `json:"positions,omitempty"`

	once  sync.Once
	exprs map[string][]part // compiled parts by template string
	err   error
}

type part struct {
	lit  string
	expr *Expr
}

// NewValue compiles every expression inside raw.
func NewValue(raw any, pos Pos, scope []string) (*Value, error) {
	return NewValueAt(raw, pos, scope, nil)
}

// NewValueAt is NewValue with the positions of template strings (see
// Value.Positions).
func NewValueAt(raw any, pos Pos, scope []string, positions map[string]Pos) (*Value, error) {
	v := &Value{Raw: raw, Pos: pos, Scope: scope, Positions: positions}
	return v, v.compile()
}

// IsConst reports whether the value holds no expression.
func (v *Value) IsConst() bool {
	if v.compile() != nil {
		return false
	}
	for _, ps := range v.exprs {
		for _, p := range ps {
			if p.expr != nil {
				return false
			}
		}
	}
	return true
}

func (v *Value) compile() error {
	v.once.Do(func() {
		if v.exprs == nil { // the compiler may have compiled some already
			v.exprs = map[string][]part{}
		}
		v.err = v.walk(v.Raw)
	})
	return v.err
}

func (v *Value) walk(x any) error {
	switch t := x.(type) {
	case string:
		return v.addString(t)
	case []any:
		for _, e := range t {
			if err := v.walk(e); err != nil {
				return err
			}
		}
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := v.addString(k); err != nil {
				return err
			}
			if err := v.walk(t[k]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (v *Value) addString(s string) error {
	if _, ok := v.exprs[s]; ok || !strings.Contains(s, "${") {
		return nil
	}
	pos := v.Pos
	if p, ok := v.Positions[s]; ok {
		pos = p
	}
	segs, err := SplitTemplate(s)
	if err != nil {
		return fmt.Errorf("%s: %w", pos, err)
	}
	parts := make([]part, 0, len(segs))
	for _, sg := range segs {
		if !sg.IsExpr {
			parts = append(parts, part{lit: sg.Text})
			continue
		}
		e, err := NewExpr(sg.Text, pos, v.Scope)
		if err != nil {
			return err
		}
		parts = append(parts, part{expr: e})
	}
	v.exprs[s] = parts
	return nil
}

// Eval evaluates every expression in the template.
func (v *Value) Eval(env *Env) (any, error) {
	if v == nil {
		return nil, nil
	}
	if err := v.compile(); err != nil {
		return nil, err
	}
	// All the expressions of one template share one budget.
	return v.eval(v.Raw, env, &budget{})
}

func (v *Value) eval(x any, env *Env, b *budget) (any, error) {
	switch t := x.(type) {
	case string:
		return v.evalString(t, env, b)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			r, err := v.eval(e, env, b)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			kk, err := v.evalString(k, env, b)
			if err != nil {
				return nil, err
			}
			r, err := v.eval(e, env, b)
			if err != nil {
				return nil, err
			}
			out[fmt.Sprint(kk)] = r
		}
		return out, nil
	default:
		return x, nil
	}
}

func (v *Value) evalString(s string, env *Env, b *budget) (any, error) {
	parts, ok := v.exprs[s]
	if !ok {
		return s, nil
	}
	if len(parts) == 1 && parts[0].expr != nil {
		return parts[0].expr.eval(env, b)
	}
	var out strings.Builder
	var last *Expr
	for _, p := range parts {
		text := p.lit
		if p.expr != nil {
			last = p.expr
			r, err := p.expr.eval(env, b)
			if err != nil {
				return nil, err
			}
			if text, err = stringifyLimited(r); err == nil && out.Len()+len(text) > MaxExprValueBytes {
				err = b.str(out.Len()+len(text), "the template")
			}
			if err != nil {
				var hit *limitHit
				if errors.As(err, &hit) {
					return nil, &LimitError{Pos: p.expr.Pos, Src: s, Limit: hit.limit, Detail: hit.detail}
				}
				return nil, err
			}
		}
		out.WriteString(text)
	}
	if last != nil {
		if err := b.str(out.Len(), "the template"); err != nil {
			hit := err.(*limitHit)
			return nil, &LimitError{Pos: last.Pos, Src: s, Limit: hit.limit, Detail: hit.detail}
		}
	}
	return out.String(), nil
}

// stringifyLimited is stringify, refusing a value whose text would be over
// MaxExprValueBytes before writing it.
func stringifyLimited(x any) (string, error) {
	switch x.(type) {
	case nil, string, time.Time, fmt.Stringer, float64, float32, int, int64, int32, bool:
	default:
		if n, ok := jsonSize(x, MaxExprValueBytes, false); !ok {
			return "", &limitHit{"MaxExprValueBytes", fmt.Sprintf("the template would write a value of over %s (at least %d bytes)", sizeOf(MaxExprValueBytes), n)}
		}
	}
	return stringify(x), nil
}

// randomInt is randomInt(n) in expressions: a whole number in [0, n).
// Like random(), it is drawn when the step evaluates it, and the step's
// output or entity keeps the value: a committed step never draws again.
func randomInt(n any) (int, error) {
	var m int64
	switch x := n.(type) {
	case int:
		m = int64(x)
	case int64:
		m = x
	case float64:
		if x != float64(int64(x)) {
			return 0, fmt.Errorf("randomInt(%v): want a whole number", x)
		}
		m = int64(x)
	default:
		return 0, fmt.Errorf("randomInt(%v): want a whole number, not %T", n, n)
	}
	if m <= 0 {
		return 0, fmt.Errorf("randomInt(%d): want a number of 1 or more", m)
	}
	return int(rand.Int64N(m)), nil
}

// TimeLayout is how a time (now(), workflow.startedAt) reads as text: RFC
// 3339 in UTC with exactly nine fraction digits, so times of one width sort
// as text (in SQL too) in time order.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// FormatTime renders t in TimeLayout, in UTC.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

func stringify(x any) string {
	switch t := x.(type) {
	case nil:
		return ""
	case string:
		return t
	case time.Time:
		return FormatTime(t)
	case fmt.Stringer:
		return t.String()
	case float64, float32, int, int64, int32, bool:
		return fmt.Sprint(t)
	default:
		b, err := json.Marshal(t)
		if err != nil {
			return fmt.Sprint(t)
		}
		return string(b)
	}
}

// Segment is a piece of a template string: literal text or expression source.
type Segment struct {
	Text   string
	IsExpr bool
	Offset int // byte offset of Text in the template string
}

// SplitTemplate splits s into literal and `${ expr }` segments. Braces and
// quotes inside expressions are honoured, so `${ {a: 1} }` is one expression.
func SplitTemplate(s string) ([]Segment, error) {
	var segs []Segment
	i := 0
	for i < len(s) {
		j := strings.Index(s[i:], "${")
		if j < 0 {
			segs = append(segs, Segment{Text: s[i:], Offset: i})
			break
		}
		if j > 0 {
			segs = append(segs, Segment{Text: s[i : i+j], Offset: i})
		}
		start := i + j + 2
		depth, k := 1, start
		var quote byte
		for ; k < len(s) && depth > 0; k++ {
			c := s[k]
			switch {
			case quote != 0:
				if c == '\\' {
					k++
				} else if c == quote {
					quote = 0
				}
			case c == '"' || c == '\'' || c == '`':
				quote = c
			case c == '{':
				depth++
			case c == '}':
				depth--
			}
		}
		if depth > 0 {
			// An unquoted ` #` in YAML starts a comment, which cuts the
			// expression short: `${ map(xs, # == nil) }` reads as `${ map(xs,`.
			return nil, fmt.Errorf("unterminated expression: %q has no closing } (if the value holds \" #\", quote it: unquoted, YAML reads \" #\" as the start of a comment)", s[i+j:])
		}
		src := strings.TrimSpace(s[start : k-1])
		if src == "" {
			return nil, fmt.Errorf("empty expression ${ } in %q", s)
		}
		segs = append(segs, Segment{Text: src, IsExpr: true, Offset: start})
		i = k
	}
	return segs, nil
}
