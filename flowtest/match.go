package flowtest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// A mismatch is one place where the actual value differs from the expected.
type mismatch struct {
	path []string // below the expectation's key
	want any
	got  any
	why  string // when a plain want/got does not say it
}

// match compares got with want. In subset mode a mapping in want checks only
// its own keys; otherwise (exact) extra keys in got differ too. Lists are
// compared item by item and must be as long. Special values in want:
// {"$contains": text} (a string holding text, or a list holding an item
// equal to text), {"$type": name} (null, boolean, number, string, array,
// object) and {"$any": true}.
func match(want, got any, subset bool, path []string) []mismatch {
	if m, ok := want.(map[string]any); ok && len(m) == 1 {
		for k, arg := range m {
			switch k {
			case "$any":
				return nil
			case "$type":
				if typeName(got) != arg {
					return []mismatch{{path: path, want: want, got: got, why: fmt.Sprintf("want a value of type %v, got %s", arg, typeName(got))}}
				}
				return nil
			case "$contains":
				if !containsValue(got, arg) {
					return []mismatch{{path: path, want: want, got: got, why: fmt.Sprintf("want a value containing %s, got %s", show(arg), show(got))}}
				}
				return nil
			}
		}
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []mismatch{{path: path, want: want, got: got}}
		}
		var out []mismatch
		for _, k := range sortedKeys(w) {
			gv, present := g[k]
			if !present {
				what := show(w[k])
				if wm, ok := w[k].(map[string]any); ok && wm["$any"] != nil && len(wm) == 1 {
					what = "a value"
				}
				out = append(out, mismatch{path: with(path, k), want: w[k], why: "want " + what + ", got nothing (no such key)"})
				continue
			}
			out = append(out, match(w[k], gv, subset, with(path, k))...)
		}
		if !subset {
			for _, k := range sortedKeys(g) {
				if _, ok := w[k]; !ok {
					out = append(out, mismatch{path: with(path, k), got: g[k], why: fmt.Sprintf("want no key %q, got %s", k, show(g[k]))})
				}
			}
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []mismatch{{path: path, want: want, got: got}}
		}
		var out []mismatch
		for i := range w {
			out = append(out, match(w[i], g[i], subset, with(path, strconv.Itoa(i)))...)
		}
		return out
	default:
		if !scalarEqual(want, got) {
			return []mismatch{{path: path, want: want, got: got}}
		}
		return nil
	}
}

func with(path []string, k string) []string {
	return append(append([]string(nil), path...), k)
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// scalarEqual compares two decoded scalars, numbers by value whatever
// their Go type.
func scalarEqual(a, b any) bool {
	if fa, ok := number(a); ok {
		fb, ok := number(b)
		return ok && fa == fb
	}
	return reflect.DeepEqual(a, b)
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	if _, ok := number(v); ok {
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

func containsValue(got, arg any) bool {
	switch g := got.(type) {
	case string:
		s, ok := arg.(string)
		return ok && strings.Contains(g, s)
	case []any:
		for _, it := range g {
			if len(match(arg, it, true, nil)) == 0 {
				return true
			}
		}
	}
	return false
}

// show renders v as compact JSON.
func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// decode reads JSON into plain values (nil for empty input).
func decode(raw []byte) any {
	if len(raw) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	return v
}

// normal turns a YAML-decoded value into what the same JSON decodes to.
func normal(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	return decode(b)
}
