package compiler

import (
	"fmt"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"
)

// Limits on what one evaluation may build. An evaluation is one Expr.Eval,
// or one Value.Eval with all the expressions of its template together. Each
// limit is enforced while the expression runs, before the value that would
// cross it is allocated, and crossing one fails the evaluation with a
// *LimitError (error.type "LimitExceeded" in a flow's catch).
const (
	// MaxExprValueBytes bounds each string an expression builds (by `+`,
	// repeat, replace, join, toJSON, string(), upper, a template...), in
	// bytes.
	MaxExprValueBytes = 1 << 20

	// MaxExprTotalBytes bounds the bytes of all the strings one evaluation
	// builds, summed (so a list of many large strings cannot be built one
	// string at a time).
	MaxExprTotalBytes = 16 << 20

	// MaxExprItems bounds the list and map elements one evaluation builds:
	// each of ranges (`1..n`), list and map literals, map/filter/sortBy
	// results (counted by expr's memory budget) and the results of concat,
	// flatten, split, keys, values, toPairs, fromPairs, reverse, uniq and
	// sort (counted separately, with the same bound).
	MaxExprItems = 1_000_000

	// MaxExprIterations bounds the iterations of the predicates (all, any,
	// filter, map, reduce, count, sum, find..., groupBy, sortBy) one
	// evaluation runs, nested loops multiplying. It is lower than
	// MaxExprItems so that it, not MaxExprDuration, stops a long loop even on
	// a slow machine: 100,000 iterations of a simple predicate take tens of
	// milliseconds.
	MaxExprIterations = 100_000

	// MaxExprDuration bounds the time one evaluation may run its loops. It
	// is a backstop: an expression within the other limits normally takes
	// microseconds, but a few operations (comparing large values inside
	// a loop, uniq on a long list) cost more than one iteration each.
	MaxExprDuration = 2 * time.Second

	// MaxExprResultBytes bounds the JSON size of an evaluation's result,
	// including values it passes through unchanged (a step output used many
	// times in one template). The runtime's own limit on stored values is
	// lower; this one keeps a result from being encoded at all when it is
	// far too large.
	MaxExprResultBytes = 16 << 20
)

// MaxIterationsLimit is the largest maxIterations a while step may declare.
const MaxIterationsLimit = 1_000_000

// LimitError reports an evaluation that went over one of the limits above.
// A flow sees it as error.type "LimitExceeded".
type LimitError struct {
	Pos    Pos    // where the expression (or template) is written
	Src    string // the expression's source
	Limit  string // the limit's name, such as "MaxExprValueBytes"
	Detail string // what went over it
}

func (e *LimitError) Error() string {
	src := e.Src
	if len(src) > 200 {
		src = src[:200] + "..."
	}
	return fmt.Sprintf("%s: expression %q: limit exceeded: %s (%s)", e.Pos, src, e.Detail, e.Limit)
}

// ErrorType is the error type a flow's catch sees.
func (e *LimitError) ErrorType() string { return "LimitExceeded" }

// limitHit is raised inside an evaluation; Eval turns it into a LimitError
// with the expression's position.
type limitHit struct{ limit, detail string }

func (h *limitHit) Error() string { return "limit exceeded: " + h.detail }

// memoryBudgetMsg is how expr reports its memory budget (our MaxExprItems)
// being spent.
const memoryBudgetMsg = "memory budget exceeded"

// budget is what one evaluation has spent.
type budget struct {
	bytes    int // MaxExprTotalBytes
	items    int // MaxExprItems
	iters    int // MaxExprIterations
	result   int // MaxExprResultBytes
	deadline time.Time
}

// str charges a string of n bytes about to be built.
func (b *budget) str(n int, what string) error {
	if n > MaxExprValueBytes {
		return &limitHit{"MaxExprValueBytes", fmt.Sprintf("%s would build a string of %s, over the %s limit", what, sizeOf(n), sizeOf(MaxExprValueBytes))}
	}
	b.bytes += n
	if b.bytes > MaxExprTotalBytes {
		return &limitHit{"MaxExprTotalBytes", fmt.Sprintf("%s: the strings built come to over %s", what, sizeOf(MaxExprTotalBytes))}
	}
	return nil
}

// list charges n list or map elements about to be built.
func (b *budget) list(n int, what string) error {
	b.items += n
	if n > MaxExprItems || b.items > MaxExprItems {
		return &limitHit{"MaxExprItems", fmt.Sprintf("%s: over %d list or map elements built", what, MaxExprItems)}
	}
	return nil
}

// iter charges one loop iteration and, now and then, checks the clock.
func (b *budget) iter() error {
	b.iters++
	if b.iters > MaxExprIterations {
		return &limitHit{"MaxExprIterations", fmt.Sprintf("over %d loop iterations", MaxExprIterations)}
	}
	if b.iters&15 == 1 {
		return b.clock()
	}
	return nil
}

func (b *budget) clock() error {
	now := time.Now()
	if b.deadline.IsZero() {
		b.deadline = now.Add(MaxExprDuration)
		return nil
	}
	if now.After(b.deadline) {
		return &limitHit{"MaxExprDuration", fmt.Sprintf("evaluation ran for over %s", MaxExprDuration)}
	}
	return nil
}

// charge adds a result's JSON size to the evaluation's results.
func (b *budget) charge(v any) error {
	n, ok := jsonSize(v, MaxExprResultBytes-b.result, false)
	b.result += n
	if !ok {
		return &limitHit{"MaxExprResultBytes", fmt.Sprintf("result is over %s as JSON", sizeOf(MaxExprResultBytes))}
	}
	return nil
}

func sizeOf(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// jsonSize returns (about, never less than) the size of v encoded as JSON,
// indented by two spaces a level when indent is set, stopping as soon as it
// passes limit (ok false). Values shared between several places count once
// for each, as they would be written. Expressions cannot build cycles, and
// the walk stops at limit, so it costs at most about limit steps.
func jsonSize(v any, limit int, indent bool) (int, bool) {
	s := sizer{limit: limit, indent: indent}
	s.walk(v, 0)
	return s.n, s.n <= s.limit
}

type sizer struct {
	n, limit int
	indent   bool
}

func (s *sizer) over() bool { return s.n > s.limit }

// elem adds the separator and indentation before an element at depth d.
func (s *sizer) elem(d int) {
	s.n++ // comma or bracket
	if s.indent {
		s.n += 1 + 2*d
	}
}

func (s *sizer) walk(v any, d int) {
	if s.over() {
		return
	}
	switch t := v.(type) {
	case nil:
		s.n += 4
	case bool:
		s.n += 5
	case string:
		s.n += quotedLen(t)
	case int:
		s.n += len(strconv.Itoa(t))
	case float64:
		s.n += 24
	case []any:
		s.n += 2
		for _, e := range t {
			s.elem(d + 1)
			s.walk(e, d+1)
			if s.over() {
				return
			}
		}
	case map[string]any:
		s.n += 2
		for k, e := range t {
			s.elem(d + 1)
			s.n += quotedLen(k) + 2
			s.walk(e, d+1)
			if s.over() {
				return
			}
		}
	case []int:
		s.n += 2 + len(t)*(21+b2i(s.indent)*(1+2*(d+1)))
	case []float64:
		s.n += 2 + len(t)*(25+b2i(s.indent)*(1+2*(d+1)))
	case []string:
		s.n += 2
		for _, e := range t {
			s.elem(d + 1)
			s.n += quotedLen(e)
			if s.over() {
				return
			}
		}
	case time.Time:
		s.n += 96
	case time.Duration:
		s.n += 24
	default:
		s.reflect(reflect.ValueOf(v), d)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *sizer) reflect(v reflect.Value, d int) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			s.n += 4
			return
		}
		s.walk(v.Elem().Interface(), d)
	case reflect.Slice, reflect.Array:
		s.n += 2
		for i := 0; i < v.Len() && !s.over(); i++ {
			s.elem(d + 1)
			s.walk(v.Index(i).Interface(), d+1)
		}
	case reflect.Map:
		s.n += 2
		it := v.MapRange()
		for it.Next() && !s.over() {
			s.elem(d + 1)
			s.walk(it.Key().Interface(), d+1)
			s.n += 2
			s.walk(it.Value().Interface(), d+1)
		}
	case reflect.String:
		s.n += quotedLen(v.String())
	case reflect.Struct:
		s.n += 2
		for i := 0; i < v.NumField() && !s.over(); i++ {
			if f := v.Type().Field(i); f.IsExported() {
				s.elem(d + 1)
				s.n += len(f.Name) + 4
				s.walk(v.Field(i).Interface(), d+1)
			}
		}
	default:
		s.n += 64
	}
}

// quotedLen is the length of s as a JSON string, counting every character
// JSON may escape at its longest.
func quotedLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				n += 6
			case c == '"' || c == '\\':
				n += 2
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || r == '\u2028' || r == '\u2029' {
			n += 6
		} else {
			n += size
		}
		i += size
	}
	return n
}
