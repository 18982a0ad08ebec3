package compiler

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/vm/runtime"
)

// How the limits are enforced while an expression runs: the compiled
// program is patched so that string `+`, every builtin that builds a string
// or a collection, and every predicate iteration go through a function that
// charges the evaluation's budget first. The budget travels in the
// environment as budgetVar, passed as the first argument of those
// functions. Ranges, list and map literals and map/filter results are
// bounded by expr's own memory budget (MaxExprItems).

// budgetVar is the environment name of the evaluation's budget.
const budgetVar = "$budget"

var budgetType = reflect.TypeOf(&budget{})

// limitOptions are the expr options that install the checked operations.
func limitOptions() []expr.Option {
	return []expr.Option{
		expr.Patch(limitPatch{}),
		func(c *conf.Config) {
			for name, f := range limitFunctions() {
				c.Functions[name] = f
			}
		},
	}
}

// limitFunctions are the checked functions, built once: they are never
// changed, and building them costs as much as compiling an expression.
var limitFunctions = sync.OnceValue(func() map[string]*builtin.Function {
	c := conf.CreateNew()
	expr.Function("$add", checked("$add", add), new(func(*budget, any, any) any))(c)
	expr.Function("$concat", checked("$concat", add), new(func(*budget, string, string) string))(c)
	expr.Function("$tick", checked("$tick", tick), new(func(*budget) any))(c)
	for name, fn := range checkedBuiltins {
		overrideBuiltin(name, fn)(c)
	}
	return c.Functions
})

func checked(name string, fn func(b *budget, args []any) (any, error)) func(args ...any) (any, error) {
	return func(args ...any) (any, error) {
		b, ok := args[0].(*budget)
		if !ok {
			return nil, fmt.Errorf("%s is internal to memflow", name)
		}
		return fn(b, args[1:])
	}
}

// overrideBuiltin replaces builtin name by fn, with the builtin's own type
// checks and the budget as an extra first argument.
func overrideBuiltin(name string, fn func(b *budget, args []any, orig func([]any) (any, error)) (any, error)) expr.Option {
	orig := builtin.Builtins[builtin.Index[name]]
	call := func(args []any) (any, error) {
		switch {
		case orig.Func != nil:
			return orig.Func(args...)
		case orig.Safe != nil:
			out, _, err := orig.Safe(args...)
			return out, err
		default:
			if len(args) != 1 {
				return nil, fmt.Errorf("invalid number of arguments for %s (expected 1, got %d)", name, len(args))
			}
			return orig.Fast(args[0]), nil
		}
	}
	f := &builtin.Function{
		Name: name,
		Func: func(args ...any) (any, error) {
			b, ok := args[0].(*budget)
			if !ok {
				return nil, fmt.Errorf("%s: missing evaluation budget", name)
			}
			return fn(b, args[1:], call)
		},
	}
	for _, t := range orig.Types {
		in := []reflect.Type{budgetType}
		for i := 0; i < t.NumIn(); i++ {
			in = append(in, t.In(i))
		}
		out := make([]reflect.Type, t.NumOut())
		for i := range out {
			out[i] = t.Out(i)
		}
		f.Types = append(f.Types, reflect.FuncOf(in, out, t.IsVariadic()))
	}
	if v := orig.Validate; v != nil {
		f.Validate = func(args []reflect.Type) (reflect.Type, error) {
			if len(args) == 0 || args[0] != budgetType {
				return nil, fmt.Errorf("%s: missing evaluation budget", name)
			}
			return v(args[1:])
		}
	}
	return func(c *conf.Config) { c.Functions[name] = f }
}

// limitPatch rewrites an expression's tree so that what can grow is
// charged to the budget (see the comment at the top of the file).
type limitPatch struct{}

func (limitPatch) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.BinaryNode:
		if n.Operator != "+" {
			return
		}
		ls, lu := stringish(n.Left.Type())
		rs, ru := stringish(n.Right.Type())
		if !(ls || lu) || !(rs || ru) {
			return // numbers, times, or a type error the checker reports
		}
		name := "$add"
		if ls && rs {
			name = "$concat"
		}
		*node = budgetCall(name, n, n.Left, n.Right)
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok || checkedBuiltins[id.Value] == nil {
			return
		}
		if len(n.Arguments) > 0 {
			if a, ok := n.Arguments[0].(*ast.IdentifierNode); ok && a.Value == budgetVar {
				return
			}
		}
		*node = budgetCall(id.Value, n, n.Arguments...)
	case *ast.BuiltinNode:
		for _, a := range n.Arguments {
			if p, ok := a.(*ast.PredicateNode); ok {
				seq := &ast.SequenceNode{Nodes: []ast.Node{budgetCall("$tick", p.Node), p.Node}}
				seq.SetLocation(p.Node.Location())
				p.Node = seq
			}
		}
	}
}

// budgetCall is a fresh (untyped, so checked anew) call of name with the
// budget and args, located at at.
func budgetCall(name string, at ast.Node, args ...ast.Node) ast.Node {
	loc := at.Location()
	callee := &ast.IdentifierNode{Value: name}
	callee.SetLocation(loc)
	bv := &ast.IdentifierNode{Value: budgetVar}
	bv.SetLocation(loc)
	call := &ast.CallNode{Callee: callee, Arguments: append([]ast.Node{bv}, args...)}
	call.SetLocation(loc)
	return call
}

// stringish reports whether t is a string, or not known before running.
func stringish(t reflect.Type) (isString, unknown bool) {
	if t == nil || t.Kind() == reflect.Interface {
		return false, true
	}
	return t.Kind() == reflect.String, false
}

func add(b *budget, args []any) (any, error) {
	x, ok1 := args[0].(string)
	y, ok2 := args[1].(string)
	if ok1 && ok2 {
		if err := b.str(len(x)+len(y), "+"); err != nil {
			return nil, err
		}
		return x + y, nil
	}
	return runtime.Add(args[0], args[1]), nil
}

func tick(b *budget, _ []any) (any, error) {
	return nil, b.iter()
}

// checkedBuiltins are the builtins that build strings or collections,
// replaced by versions that charge the budget before building.
var checkedBuiltins = map[string]func(b *budget, args []any, orig func([]any) (any, error)) (any, error){
	"repeat": func(b *budget, args []any, orig func([]any) (any, error)) (any, error) {
		if len(args) == 2 {
			s, ok1 := args[0].(string)
			n, ok2 := args[1].(int)
			if ok1 && ok2 && n > 0 {
				size := float64(len(s)) * float64(n) // no overflow
				if err := b.str(int(min(size, 1<<60)), "repeat"); err != nil {
					return nil, err
				}
			}
		}
		return orig(args)
	},
	"replace": func(b *budget, args []any, orig func([]any) (any, error)) (any, error) {
		if len(args) >= 3 {
			s, ok1 := args[0].(string)
			old, ok2 := args[1].(string)
			nw, ok3 := args[2].(string)
			if ok1 && ok2 && ok3 {
				k := strings.Count(s, old) // runes+1 when old is ""
				if len(args) == 4 {
					if m, ok := args[3].(int); ok && m >= 0 && m < k {
						k = m
					}
				}
				if err := b.str(len(s)+k*(len(nw)-len(old)), "replace"); err != nil {
					return nil, err
				}
			}
		}
		return orig(args)
	},
	"join": func(b *budget, args []any, orig func([]any) (any, error)) (any, error) {
		if len(args) >= 1 {
			sep := ""
			if len(args) == 2 {
				sep, _ = args[1].(string)
			}
			n := 0
			switch l := args[0].(type) {
			case []string:
				for _, s := range l {
					n += len(s) + len(sep)
				}
			case []any:
				for _, s := range l {
					if s, ok := s.(string); ok {
						n += len(s)
					}
					n += len(sep)
				}
			}
			if err := b.str(n, "join"); err != nil {
				return nil, err
			}
		}
		return orig(args)
	},
	"toJSON": func(b *budget, args []any, orig func([]any) (any, error)) (any, error) {
		if len(args) == 1 {
			n, _ := jsonSize(args[0], MaxExprValueBytes, true)
			if err := b.str(n, "toJSON"); err != nil {
				return nil, err
			}
		}
		return orig(args)
	},
	"string": func(b *budget, args []any, orig func([]any) (any, error)) (any, error) {
		if len(args) == 1 {
			n, _ := jsonSize(args[0], MaxExprValueBytes, false)
			if s, ok := args[0].(string); ok {
				n = len(s)
			}
			if err := b.str(n, "string()"); err != nil {
				return nil, err
			}
		}
		out, err := orig(args)
		return out, postString(b, out, err, "string()")
	},
	"toBase64": func(b *budget, args []any, orig func([]any) (any, error)) (any, error) {
		if len(args) == 1 {
			if s, ok := args[0].(string); ok {
				if err := b.str(base64.StdEncoding.EncodedLen(len(s)), "toBase64"); err != nil {
					return nil, err
				}
			}
		}
		return orig(args)
	},
	"fromBase64": builtString("fromBase64"),
	"upper":      builtString("upper"),
	"lower":      builtString("lower"),
	"fromJSON": func(b *budget, args []any, orig func([]any) (any, error)) (any, error) {
		if len(args) == 1 {
			if s, ok := args[0].(string); ok {
				// The decoded value takes about as much room as its text.
				if err := b.str(len(s), "fromJSON"); err != nil {
					return nil, err
				}
			}
		}
		return orig(args)
	},
	"split":      split,
	"splitAfter": split,
	"concat": func(b *budget, args []any, orig func([]any) (any, error)) (any, error) {
		n := 0
		for _, a := range args {
			n += length(a)
		}
		if err := b.list(n, "concat"); err != nil {
			return nil, err
		}
		return orig(args)
	},
	"flatten": func(b *budget, args []any, orig func([]any) (any, error)) (any, error) {
		if len(args) == 1 {
			left := MaxExprItems - b.items
			if n := leaves(reflect.ValueOf(args[0]), left+1, 0); n > left {
				return nil, b.list(n, "flatten")
			}
		}
		out, err := orig(args)
		if err == nil {
			err = b.list(length(out), "flatten")
		}
		return out, err
	},
	"keys":      copying("keys"),
	"values":    copying("values"),
	"toPairs":   copying("toPairs"),
	"fromPairs": copying("fromPairs"),
	"reverse":   copying("reverse"),
	"sort":      copying("sort"),
	"uniq":      uniq,
}

// builtString charges the string a length-preserving (or nearly) builtin
// made.
func builtString(what string) func(b *budget, args []any, orig func([]any) (any, error)) (any, error) {
	return func(b *budget, args []any, orig func([]any) (any, error)) (any, error) {
		out, err := orig(args)
		return out, postString(b, out, err, what)
	}
}

func postString(b *budget, out any, err error, what string) error {
	if err != nil {
		return err
	}
	if s, ok := out.(string); ok {
		return b.str(len(s), what)
	}
	return nil
}

// copying charges a builtin whose result has as many elements as its first
// argument.
func copying(what string) func(b *budget, args []any, orig func([]any) (any, error)) (any, error) {
	return func(b *budget, args []any, orig func([]any) (any, error)) (any, error) {
		if len(args) >= 1 {
			if err := b.list(length(args[0]), what); err != nil {
				return nil, err
			}
		}
		return orig(args)
	}
}

func split(b *budget, args []any, orig func([]any) (any, error)) (any, error) {
	if len(args) >= 2 {
		s, ok1 := args[0].(string)
		sep, ok2 := args[1].(string)
		if ok1 && ok2 {
			n := strings.Count(s, sep) + 1
			if sep == "" {
				n = utf8.RuneCountInString(s)
			}
			if len(args) == 3 {
				if m, ok := args[2].(int); ok && m >= 0 && m < n {
					n = m
				}
			}
			if err := b.list(n, "split"); err != nil {
				return nil, err
			}
		}
	}
	return orig(args)
}

// uniq is expr's uniq (first of each run of equal elements, compared as `==`
// does), with the clock checked as it goes: it compares each element with
// every one kept so far.
func uniq(b *budget, args []any, orig func([]any) (any, error)) (any, error) {
	if len(args) != 1 {
		return orig(args)
	}
	v := reflect.ValueOf(args[0])
	if v.Kind() != reflect.Array && v.Kind() != reflect.Slice {
		return orig(args)
	}
	if err := b.list(v.Len(), "uniq"); err != nil {
		return nil, err
	}
	ret := []any{}
	cmp := 0
	for i := 0; i < v.Len(); i++ {
		x := v.Index(i).Interface()
		dup := false
		for _, r := range ret {
			if cmp++; cmp&1023 == 0 {
				if err := b.clock(); err != nil {
					return nil, err
				}
			}
			if runtime.Equal(x, r) {
				dup = true
				break
			}
		}
		if !dup {
			ret = append(ret, x)
		}
	}
	return ret, nil
}

// length is the number of elements of a list or map (0 for anything else).
func length(x any) int {
	switch t := x.(type) {
	case []any:
		return len(t)
	case map[string]any:
		return len(t)
	}
	v := reflect.ValueOf(x)
	switch v.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map:
		return v.Len()
	}
	return 0
}

// leaves counts what flatten would produce from v, stopping past limit.
func leaves(v reflect.Value, limit, depth int) int {
	if depth > builtin.MaxDepth {
		return 0
	}
	for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return 1
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Slice && v.Kind() != reflect.Array {
		return 1
	}
	n := 0
	for i := 0; i < v.Len() && n <= limit; i++ {
		n += leaves(v.Index(i), limit-n, depth+1)
	}
	return n
}
