package store

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestApplyCommandsDoesNotMutateInput(t *testing.T) {
	doc, err := DecodeJSON([]byte(`{"a":{"b":[1,2]},"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	before := clone(doc)
	cmds := []Command{
		{Op: OpAppend, Path: "a.b", Value: 3},
		{Op: OpIncrement, Path: "n", Value: 1},
		{Op: OpMerge, Value: map[string]any{"a": map[string]any{"c": 1}}},
	}
	out, err := ApplyCommands(doc, cmds)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(doc, before) {
		t.Errorf("successful ApplyCommands changed its input: %v", doc)
	}
	want := map[string]any{"a": map[string]any{"b": []any{1, 2, 3}, "c": 1}, "n": 2}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("ApplyCommands = %#v, want %#v", out, want)
	}
	_, err = ApplyCommands(doc, append(cmds, Command{Op: OpToggle, Path: "n"}))
	if !errors.Is(err, ErrCommand) || !reflect.DeepEqual(doc, before) {
		t.Errorf("failing ApplyCommands: err %v, input now %v", err, doc)
	}
}

func TestApplyNumbers(t *testing.T) {
	out, err := ApplyCommands(map[string]any{"i": 1, "f": 1.5}, []Command{
		{Op: OpIncrement, Path: "i", Value: 2},
		{Op: OpIncrement, Path: "f", Value: 1},
		{Op: OpIncrement, Path: "big", Value: int64(1) << 62},
		{Op: OpIncrement, Path: "big", Value: int64(1) << 62},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := out.(map[string]any)
	if m["i"] != 3 || m["f"] != 2.5 {
		t.Errorf("increment: i = %#v (want int 3), f = %#v (want 2.5)", m["i"], m["f"])
	}
	if _, ok := m["big"].(float64); !ok {
		t.Errorf("overflowing int increment = %#v, want a float64", m["big"])
	}
}

func TestDecodeJSON(t *testing.T) {
	v, err := DecodeJSON([]byte(`{"n":5,"f":2.5,"e":1e3,"neg":-7,"huge":1e300,"arr":[1,2.0]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"n": 5, "f": 2.5, "e": 1000, "neg": -7, "huge": 1e300, "arr": []any{1, 2}}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("DecodeJSON = %#v, want %#v", v, want)
	}
	if n := v.(map[string]any)["n"].(int); n%2 != 1 {
		t.Errorf("n %% 2 = %d", n%2)
	}
	if _, err := DecodeJSON([]byte(`{"a":1e999}`)); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("1e999: err %v, want out of range", err)
	}
	if _, err := DecodeJSON([]byte(`{"a":1} x`)); err == nil {
		t.Errorf("trailing data accepted")
	}
	big := make([]byte, MaxDocumentBytes+1)
	if _, err := DecodeJSON(big); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "limit") {
		t.Errorf("oversized document: %v, want ErrTooLarge", err)
	}
	if v, err := DecodeJSON(nil); v != nil || err != nil {
		t.Errorf("DecodeJSON(nil) = %v, %v", v, err)
	}
}

func TestGet(t *testing.T) {
	doc := map[string]any{"a": map[string]any{"b": []any{"x", "y"}}}
	if v, ok, err := Get(doc, "a.b.1"); err != nil || !ok || v != "y" {
		t.Errorf("Get(a.b.1) = %v, %v, %v", v, ok, err)
	}
	if _, ok, err := Get(doc, "a.c"); err != nil || ok {
		t.Errorf("Get(a.c) = %v, %v; want missing", ok, err)
	}
	if _, _, err := Get(doc, "a..c"); !errors.Is(err, ErrPath) {
		t.Errorf("Get(a..c) err = %v, want ErrPath", err)
	}
}

func TestApplyMultiply(t *testing.T) {
	out, err := ApplyCommands(map[string]any{"i": 3, "f": 1.5, "big": int64(1) << 40}, []Command{
		{Op: OpMultiply, Path: "i", Value: -2},
		{Op: OpMultiply, Path: "f", Value: 2},
		{Op: OpMultiply, Path: "big", Value: int64(1) << 40},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := out.(map[string]any)
	if m["i"] != -6 || m["f"] != 3.0 {
		t.Errorf("multiply: i = %#v (want int -6), f = %#v (want 3.0)", m["i"], m["f"])
	}
	if _, ok := m["big"].(float64); !ok {
		t.Errorf("overflowing int multiply = %#v, want a float64", m["big"])
	}
	for _, c := range []struct {
		doc  any
		cmd  Command
		want string
	}{
		{map[string]any{}, Command{Op: OpMultiply, Path: "n", Value: 2}, `multiply "n": found nothing, want a number`},
		{map[string]any{"n": "x"}, Command{Op: OpMultiply, Path: "n", Value: 2}, `multiply "n": found string "x", want a number`},
		{map[string]any{"n": 1}, Command{Op: OpMultiply, Path: "n", Value: "2"}, `factor string "2" is not a number`},
		{map[string]any{"n": 1e300}, Command{Op: OpMultiply, Path: "n", Value: 1e300}, `result overflows`},
	} {
		if _, err := ApplyCommands(c.doc, []Command{c.cmd}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v on %v: %v, want %q", c.cmd, c.doc, err, c.want)
		}
	}
}

// setIfNotExists on the whole document keeps a document that is there
// (it used to replace it with null).
func TestSetIfNotExistsRootKeepsTheDocument(t *testing.T) {
	doc := map[string]any{"a": int64(1)}
	out, err := ApplyCommands(doc, []Command{{Op: OpSetIfNotExists, Path: "", Value: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := out.(map[string]any); !ok || m["a"] != int64(1) {
		t.Errorf("document became %#v", out)
	}
	out, err = ApplyCommands(nil, []Command{{Op: OpSetIfNotExists, Path: "", Value: "x"}})
	if err != nil || out != "x" {
		t.Errorf("on no document: %#v, %v", out, err)
	}
}
