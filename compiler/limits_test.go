package compiler

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Each poison expression compiles, then stops with a LimitError naming its
// position and the limit, quickly and without building the huge value.
func TestExprLimitsStopPoison(t *testing.T) {
	big := strings.Repeat("a", 600_000) // under MaxExprValueBytes alone
	cases := []struct{ name, src, limit string }{
		{"doubling", `len(reduce(1..40, #acc + #acc, 'xx'))`, "MaxExprValueBytes"},
		{"doubling untyped", `len(reduce(1..40, #acc + #acc, input.s))`, "MaxExprValueBytes"},
		{"chained replace", `replace(replace(replace(replace(replace(replace('abcdefgh', '', 'xxxxxxxxxx'), '', 'xxxxxxxxxx'), '', 'xxxxxxxxxx'), '', 'xxxxxxxxxx'), '', 'xxxxxxxxxx'), '', 'xxxxxxxxxx')`, "MaxExprValueBytes"},
		{"replace in reduce", `reduce(1..30, replace(#acc, 'a', 'aa'), 'a')`, "MaxExprValueBytes"},
		{"nested toJSON", `reduce(1..60, toJSON([#acc, #acc]), 'x')`, "MaxExprValueBytes"},
		{"nested toJSON literal", `toJSON(toJSON(toJSON(toJSON(toJSON(toJSON(toJSON(toJSON(toJSON(toJSON(toJSON(toJSON(toJSON(toJSON(toJSON(toJSON(toJSON(toJSON(toJSON(toJSON(input.l))))))))))))))))))))`, "MaxExprValueBytes"},
		{"repeat", `repeat('x', 1000000000000)`, "MaxExprValueBytes"},
		{"repeat in map", `map(1..1000, repeat('x', 1000000))`, "MaxExprTotalBytes"},
		{"big range", `len(1..1000000000)`, "MaxExprItems"},
		{"nested ranges", `len(map(1..5000, 1..5000))`, "MaxExprItems"},
		{"concat doubling", `len(reduce(1..60, concat(#acc, #acc), [1]))`, "MaxExprItems"},
		{"join", `join(map(1..100, input.big), '')`, "MaxExprValueBytes"},
		{"string of list", `string(map(1..100, input.big))`, "MaxExprValueBytes"},
		{"upper", `reduce(1..40, upper(#acc + #acc), 'x')`, "MaxExprValueBytes"},
		{"toBase64", `reduce(1..200, toBase64(#acc), 'xxxx')`, "MaxExprValueBytes"},
		{"flatten", `len(flatten(map(1..2000, input.l)))`, "MaxExprItems"},
		{"split", `len(reduce(1..100, concat(#acc, split(input.big, '')), []))`, "MaxExprItems"},
		{"nested loops", `all(1..999999, all(input.l, true))`, "MaxExprIterations"},
		{"loops over input", `sum(input.l, sum(input.l, sum(input.l, 1)))`, "MaxExprIterations"},
		{"result", `map(1..60, input.big)`, "MaxExprResultBytes"},
		{"slow loop", `all(1..999999, input.long == input.long2)`, "MaxExprDuration"},
	}
	l := make([]any, 1000)
	for i := range l {
		l[i] = i
	}
	long, long2 := make([]any, 100_000), make([]any, 100_000)
	for i := range long {
		long[i], long2[i] = i, i
	}
	env := &Env{Input: map[string]any{"s": "xx", "big": big, "l": l, "long": long, "long2": long2}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := NewExpr(c.src, Pos{File: "f.yaml", Line: 3, Col: 9}, nil)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			start := time.Now()
			out, err := e.Eval(env)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s", d)
			}
			var le *LimitError
			if !errors.As(err, &le) {
				t.Fatalf("want a LimitError, got %v (result of %d bytes as JSON)", err, mustSize(out))
			}
			if le.ErrorType() != "LimitExceeded" || le.Limit != c.limit {
				t.Errorf("type %q limit %q, want LimitExceeded %s: %v", le.ErrorType(), le.Limit, c.limit, err)
			}
			if !strings.HasPrefix(err.Error(), "f.yaml:3:9: ") || !strings.Contains(err.Error(), c.limit) {
				t.Errorf("message does not name the position and the limit: %v", err)
			}
		})
	}
}

func mustSize(v any) int {
	n, _ := jsonSize(v, 1<<40, false)
	return n
}

// Templates share one budget and bound the string they build.
func TestValueLimits(t *testing.T) {
	env := &Env{Input: map[string]any{"big": strings.Repeat("b", 700_000)}}
	pos := Pos{File: "f.yaml", Line: 7, Col: 5}
	v, err := NewValue("${ input.big }-${ input.big }", pos, nil)
	if err != nil {
		t.Fatal(err)
	}
	var le *LimitError
	if _, err := v.Eval(env); !errors.As(err, &le) || le.Limit != "MaxExprValueBytes" {
		t.Fatalf("interpolation over the limit: %v", err)
	}
	items := make([]any, 40)
	for i := range items {
		items[i] = "${ repeat('y', 1000000) }"
	}
	v, err = NewValue(map[string]any{"xs": items}, pos, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Eval(env); !errors.As(err, &le) || le.Limit != "MaxExprTotalBytes" {
		t.Fatalf("many large strings in one template: %v", err)
	}
}

// Ordinary expressions keep their results and their static types.
func TestExprLimitsKeepOrdinaryExpressions(t *testing.T) {
	env := &Env{Input: map[string]any{"a": 2, "b": 3, "s": "x", "names": []any{"b", "a", "b"}, "m": map[string]any{"k": 1}}}
	cases := map[string]any{
		`input.a + input.b`:                         5,
		`input.s + "y" + input.s`:                   "xyx",
		`"a" + "b"`:                                 "ab",
		`1 + 2.5`:                                   3.5,
		`input.a + input.b > 4`:                     true,
		`repeat("ab", 3)`:                           "ababab",
		`replace("a-b-c", "-", "+")`:                "a+b+c",
		`join(sort(uniq(input.names)), ",")`:        "a,b",
		`toJSON({a: 1})`:                            "{\n  \"a\": 1\n}",
		`string(1)`:                                 "1",
		`len(filter(1..10, # % 2 == 0))`:            5,
		`reduce(1..4, #acc + #, 0)`:                 10,
		`reduce(["a", "b"], #acc + #, "")`:          "ab",
		`sum(map(1..3, # * 2))`:                     12,
		`len(concat([1], [2, 3]))`:                  3,
		`len(flatten([[1], [2, [3]]]))`:             3,
		`len(split("a,b,c", ","))`:                  3,
		`upper("abc") + lower("DEF")`:               "ABCdef",
		`fromJSON('{"a": [1]}').a[0]`:               float64(1),
		`len(keys(input.m)) + len(values(input.m))`: 2,
		`fromBase64(toBase64("hi"))`:                "hi",
		`trim(" x ")`:                               "x",
		`(now() + duration("1h")).Unix()`:           int64(1700003600),
	}
	clock := func() time.Time { return time.Unix(1700000000, 0) }
	env.Now = clock
	for src, want := range cases {
		e, err := NewExpr(src, Pos{}, nil)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		got, err := e.Eval(env)
		if err != nil || got != want {
			t.Errorf("%s = %#v, %v; want %#v", src, got, err, want)
		}
	}
	// Type errors are still found when the flow loads.
	for _, src := range []string{`"a" + 1`, `repeat(1, 2)`, `filter([1], 1)`, `upper(1)`} {
		if _, err := NewExpr(src, Pos{}, nil); err == nil {
			t.Errorf("%s compiled", src)
		}
	}
}
