package store

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// CommandError reports a command that cannot apply to the document: the
// command, its path, what was found there and why it does not fit.
type CommandError struct {
	Op    Op
	Path  string // the command's path as given
	Index int    // the array index involved, or -1
	Found string // what was at the path: `string "abc"`, `nothing`, ...
	Msg   string // what went wrong, e.g. `found string "abc", want a number`
}

func (e *CommandError) Error() string {
	s := string(e.Op) + " " + strconv.Quote(e.Path)
	if e.Index >= 0 {
		s += " index " + strconv.Itoa(e.Index)
	}
	return s + ": " + e.Msg
}

func (e *CommandError) Unwrap() error { return ErrCommand }

// action tells the walker what to do with the value at the path.
type action int

const (
	keep  action = iota // leave the document unchanged
	write               // store the returned value at the path
	drop                // remove the field (or array element) at the path
)

// leafFunc computes the new value at a path from the current one.
type leafFunc func(cur any, present bool) (any, action, error)

// ApplyCommands applies cmds in order to doc (a decoded JSON value) and
// returns the new document. doc is never modified: the commands work on a
// copy, so a failing command list leaves the caller's document as it was.
func ApplyCommands(doc any, cmds []Command) (any, error) {
	work := clone(doc)
	for _, c := range cmds {
		var err error
		work, err = applyOne(work, c)
		if err != nil {
			return nil, err
		}
	}
	return work, nil
}

// Get reads the value at path; ok is false when nothing is there.
func Get(doc any, path string) (v any, ok bool, err error) {
	segs, err := ParsePath(path)
	if err != nil {
		return nil, false, err
	}
	v, ok = getSegs(doc, segs)
	return v, ok, nil
}

// getSegs reads the value at parsed path segs.
func getSegs(doc any, segs []Segment) (any, bool) {
	cur, present := doc, true
	for _, s := range segs {
		switch x := cur.(type) {
		case map[string]any:
			cur, present = x[string(s)]
		case []any:
			i, isIdx := s.Index()
			if !isIdx || i >= len(x) {
				return nil, false
			}
			cur = x[i]
		default:
			return nil, false
		}
		if !present {
			return nil, false
		}
	}
	return cur, true
}

func applyOne(doc any, c Command) (any, error) {
	segs, err := ParsePath(c.Path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Op, err)
	}
	cerr := func(found, format string, args ...any) error {
		return &CommandError{Op: c.Op, Path: c.Path, Index: -1, Found: found, Msg: fmt.Sprintf(format, args...)}
	}
	want := func(cur any, present bool, what string) error {
		d := describe(cur, present)
		return cerr(d, "found %s, want %s", d, what)
	}
	var leaf leafFunc
	create := true
	switch c.Op {
	case OpSet:
		leaf = func(any, bool) (any, action, error) { return clone(c.Value), write, nil }
	case OpMerge:
		leaf = func(cur any, _ bool) (any, action, error) { return mergeValue(cur, c.Value), write, nil }
	case OpAppend, OpPrepend:
		leaf = func(cur any, present bool) (any, action, error) {
			v := clone(c.Value)
			switch x := cur.(type) {
			case nil:
				return []any{v}, write, nil
			case []any:
				if c.Op == OpAppend {
					return append(x, v), write, nil
				}
				return append([]any{v}, x...), write, nil
			}
			return nil, keep, want(cur, present, "an array")
		}
	case OpRemove:
		create = false
		idx, _, isInt, ok := asNumber(c.Value)
		if !ok || !isInt {
			return nil, cerr("", "index %s is not an integer", describe(c.Value, true))
		}
		leaf = func(cur any, present bool) (any, action, error) {
			arr, ok := cur.([]any)
			if !ok {
				return nil, keep, want(cur, present, "an array")
			}
			if idx < 0 || idx >= int64(len(arr)) {
				return nil, keep, &CommandError{Op: c.Op, Path: c.Path, Index: int(idx), Found: describe(cur, true),
					Msg: fmt.Sprintf("array has %d elements", len(arr))}
			}
			out := make([]any, 0, len(arr)-1)
			out = append(out, arr[:idx]...)
			return append(out, arr[idx+1:]...), write, nil
		}
	case OpIncrement:
		di, df, dInt, ok := asNumber(c.Value)
		if !ok {
			return nil, cerr("", "amount %s is not a number", describe(c.Value, true))
		}
		leaf = func(cur any, present bool) (any, action, error) {
			if !present || cur == nil {
				cur = 0
			}
			ci, cf, cInt, ok := asNumber(cur)
			if !ok {
				return nil, keep, want(cur, present, "a number")
			}
			if cInt && dInt {
				if s := ci + di; (di >= 0) == (s >= ci) && int64(int(s)) == s {
					return int(s), write, nil
				}
			}
			sum := cf + df
			if math.IsInf(sum, 0) || math.IsNaN(sum) {
				return nil, keep, cerr(describe(cur, present), "result overflows")
			}
			return sum, write, nil
		}
	case OpMultiply:
		mi, mf, mInt, ok := asNumber(c.Value)
		if !ok {
			return nil, cerr("", "factor %s is not a number", describe(c.Value, true))
		}
		leaf = func(cur any, present bool) (any, action, error) {
			ci, cf, cInt, ok := asNumber(cur)
			if !present || cur == nil || !ok {
				return nil, keep, want(cur, present, "a number")
			}
			if cInt && mInt {
				if p := ci * mi; (ci == 0 || p/ci == mi) && !(ci == -1 && mi == math.MinInt64) && !(mi == -1 && ci == math.MinInt64) && int64(int(p)) == p {
					return int(p), write, nil
				}
			}
			prod := cf * mf
			if math.IsInf(prod, 0) || math.IsNaN(prod) {
				return nil, keep, cerr(describe(cur, present), "result overflows")
			}
			return prod, write, nil
		}
	case OpToggle:
		leaf = func(cur any, present bool) (any, action, error) {
			if !present || cur == nil {
				return true, write, nil
			}
			b, ok := cur.(bool)
			if !ok {
				return nil, keep, want(cur, present, "a boolean")
			}
			return !b, write, nil
		}
	case OpSetIfNotExists:
		leaf = func(_ any, present bool) (any, action, error) {
			if present {
				return nil, keep, nil
			}
			return clone(c.Value), write, nil
		}
	case OpDelete:
		create = false
		if len(segs) == 0 {
			return nil, cerr("", "delete needs a path")
		}
		leaf = func(_ any, present bool) (any, action, error) {
			if !present {
				return nil, keep, nil
			}
			return nil, drop, nil
		}
	case OpGet:
		return doc, nil
	default:
		return nil, cerr("", "unknown command %q", c.Op)
	}
	w := walker{cmd: c, segs: segs, create: create, leaf: leaf}
	out, act, err := w.walk(doc, doc != nil, 0)
	if len(segs) == 0 && act == keep {
		return doc, err // a command on the whole document that leaves it as it is
	}
	return out, err
}

// walker descends a document along segs and rewrites the leaf in place (the
// document is already a private copy).
type walker struct {
	cmd    Command
	segs   []Segment
	create bool
	leaf   leafFunc
}

func (w *walker) walk(node any, present bool, depth int) (any, action, error) {
	if depth == len(w.segs) {
		return w.leaf(node, present)
	}
	seg := w.segs[depth]
	if node == nil {
		if !w.create {
			// Nothing there: the leaf decides (delete is a no-op, remove fails).
			_, _, err := w.leaf(nil, false)
			return node, keep, err
		}
		node = map[string]any{}
	}
	switch x := node.(type) {
	case map[string]any:
		child, ok := x[string(seg)]
		nv, act, err := w.walk(child, ok, depth+1)
		if err != nil {
			return nil, keep, err
		}
		switch act {
		case write:
			x[string(seg)] = nv
		case drop:
			delete(x, string(seg))
		}
		return x, write, nil
	case []any:
		i, ok := seg.Index()
		if !ok {
			return nil, keep, w.intermediate(node, depth, fmt.Sprintf("key %q cannot index an array", string(seg)))
		}
		if i >= len(x) {
			return nil, keep, &CommandError{Op: w.cmd.Op, Path: w.cmd.Path, Index: i, Found: describe(x, true),
				Msg: fmt.Sprintf("array at %s has %d elements", quotePath(w.segs[:depth]), len(x))}
		}
		nv, act, err := w.walk(x[i], true, depth+1)
		if err != nil {
			return nil, keep, err
		}
		switch act {
		case write:
			x[i] = nv
		case drop:
			x = append(x[:i:i], x[i+1:]...)
		}
		return x, write, nil
	}
	return nil, keep, w.intermediate(node, depth, "want an object or array")
}

func (w *walker) intermediate(node any, depth int, msg string) error {
	d := describe(node, true)
	at := "the root"
	if depth > 0 {
		at = quotePath(w.segs[:depth])
	}
	return &CommandError{Op: w.cmd.Op, Path: w.cmd.Path, Index: -1, Found: d,
		Msg: fmt.Sprintf("found %s at %s, %s", d, at, msg)}
}

// mergeValue deep-merges src into dst: objects merge key by key, recursively;
// anything else replaces. dst may be modified (it is a private copy).
func mergeValue(dst, src any) any {
	sm, ok := src.(map[string]any)
	if !ok {
		return clone(src)
	}
	dm, ok := dst.(map[string]any)
	if !ok {
		return clone(src)
	}
	for k, v := range sm {
		dm[k] = mergeValue(dm[k], v)
	}
	return dm
}

// PatchOp is one operation of a JSON patch (RFC 6902).
type PatchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value,omitempty"`
}

// ApplyCommandsPatch is ApplyCommands that also returns the JSON patch
// that takes doc to the result: per command, the value at its path
// afterwards (an appended element alone), added where nothing was before,
// replaced or removed where something was. It reads only what the
// commands touched, so its cost follows the change, not the document.
func ApplyCommandsPatch(doc any, cmds []Command) (any, []PatchOp, error) {
	work := clone(doc)
	var ops []PatchOp
	for _, c := range cmds {
		segs, err := ParsePath(c.Path)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", c.Op, err)
		}
		miss := missingFrom(work, segs)
		qWas := false
		if miss >= 0 && miss < len(segs) {
			_, qWas = getSegs(work, segs[:miss+1])
		}
		arrLen := -1
		if v, _ := getSegs(work, segs); miss == len(segs) {
			if a, ok := v.([]any); ok {
				arrLen = len(a)
			}
		}
		if work, err = applyOne(work, c); err != nil {
			return nil, nil, err
		}
		if op, ok, err := patchOf(work, segs, miss, qWas, arrLen, c); err != nil {
			return nil, nil, err
		} else if ok {
			ops = append(ops, op)
		}
	}
	return work, ops, nil
}

// missingFrom is the index of the first segment of segs that doc does not
// hold (len(segs) when the whole path is there). When the path goes through
// a value that is neither an object nor an array, it is that value's index
// instead (-1 for the document itself): the change replaces it.
func missingFrom(doc any, segs []Segment) int {
	cur := doc
	for i, s := range segs {
		switch x := cur.(type) {
		case map[string]any:
			v, ok := x[string(s)]
			if !ok {
				return i
			}
			cur = v
		case []any:
			n, isIdx := s.Index()
			if !isIdx || n >= len(x) {
				return i
			}
			cur = x[n]
		default:
			return i - 1 // replace the scalar the path goes through (-1: the document)
		}
	}
	return len(segs)
}

// patchOf is the operation that records one applied command.
func patchOf(after any, segs []Segment, miss int, qWas bool, arrLen int, c Command) (PatchOp, bool, error) {
	op := c.Op
	val := func(v any) (json.RawMessage, error) { return json.Marshal(v) }
	if miss == len(segs) && len(segs) > 0 {
		switch op {
		case OpDelete: // what was there is gone (an array's later elements move up)
			return PatchOp{Op: "remove", Path: pointer(segs)}, true, nil
		case OpRemove:
			idx, _, _, _ := asNumber(c.Value)
			return PatchOp{Op: "remove", Path: pointer(segs) + "/" + strconv.FormatInt(idx, 10)}, true, nil
		}
	}
	if op == OpGet {
		return PatchOp{}, false, nil
	}
	if miss < 0 { // the document was not a container: it is replaced whole
		v, err := val(after)
		return PatchOp{Op: "replace", Path: "", Value: v}, err == nil, err
	}
	if miss < len(segs) { // a new subtree at segs[:miss+1], or a scalar on the way replaced
		q := segs[:miss+1]
		now, there := getSegs(after, q)
		if !there {
			if qWas {
				return PatchOp{Op: "remove", Path: pointer(q)}, true, nil
			}
			return PatchOp{}, false, nil
		}
		v, err := val(now)
		kind := "add"
		if qWas {
			kind = "replace"
		}
		return PatchOp{Op: kind, Path: pointer(q), Value: v}, err == nil, err
	}
	now, there := getSegs(after, segs)
	if !there {
		return PatchOp{Op: "remove", Path: pointer(segs)}, true, nil
	}
	if arr, ok := now.([]any); ok && arrLen >= 0 && len(arr) == arrLen+1 && (op == OpAppend || op == OpPrepend) {
		if op == OpAppend {
			v, err := val(arr[len(arr)-1])
			return PatchOp{Op: "add", Path: pointer(segs) + "/-", Value: v}, err == nil, err
		}
		v, err := val(arr[0])
		return PatchOp{Op: "add", Path: pointer(segs) + "/0", Value: v}, err == nil, err
	}
	if op == OpSetIfNotExists {
		return PatchOp{}, false, nil // it was there: nothing changed
	}
	v, err := val(now)
	return PatchOp{Op: "replace", Path: pointer(segs), Value: v}, err == nil, err
}

// pointer renders segments as a JSON pointer (RFC 6901).
func pointer(segs []Segment) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(string(s)))
	}
	return b.String()
}
