package runtime

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func deepArray(depth int) string { return strings.Repeat("[", depth) + strings.Repeat("]", depth) }

// Depth is counted by a scan, before any decoding: brackets inside strings
// (escaped quotes included) do not count; a value at MaxNesting passes, one
// level more fails naming both numbers, and so does Go's own 10,000 levels
// that used to be accepted.
func TestDecodeValueDepth(t *testing.T) {
	for _, tc := range []struct {
		in, err string
	}{
		{deepArray(MaxNesting), ""},
		{`{"a":` + deepArray(MaxNesting-1) + `}`, ""},
		{`{"a":` + deepArray(MaxNesting) + `}`, "value is nested 101 levels deep; the limit is 100"},
		{deepArray(9990), "value is nested 9990 levels deep; the limit is 100"},
		{`["` + strings.Repeat(`[{\"`, 500) + `"]`, ""},
		{`[1, [2], {"a": [3]}, "]]]]"]`, ""},
	} {
		_, err := decodeValue([]byte(tc.in))
		if (err == nil) != (tc.err == "") || (err != nil && err.Error() != tc.err) {
			t.Errorf("%.40s: err %v, want %q", tc.in, err, tc.err)
		}
	}
	// jsonify (every value a step, a hook, a signal or an activity stores)
	// checks the same.
	var v any = []any{}
	for range MaxNesting {
		v = []any{v}
	}
	if _, _, err := jsonify(v); err == nil || !strings.Contains(err.Error(), "nested 101 levels deep; the limit is 100") {
		t.Errorf("jsonify of 101 levels: %v", err)
	}
}

// Whole numbers keep every digit up to the int64 range; beyond it they are
// refused with the number and its path, never rounded. Fractions and
// exponents stay floats.
func TestDecodeValueIntegers(t *testing.T) {
	v, err := decodeValue([]byte(`{"a":9007199254740993,"b":-9223372036854775808,"c":9223372036854775807,"d":1.5,"e":2e20}`))
	if err != nil {
		t.Fatal(err)
	}
	m := v.(map[string]any)
	if m["a"] != 9007199254740993 || m["b"] != -9223372036854775808 || m["c"] != 9223372036854775807 ||
		m["d"] != 1.5 || m["e"] != 2e20 {
		t.Errorf("got %#v", m)
	}
	for in, msg := range map[string]string{
		`{"a":{"b":[0,9223372036854775808]}}`: "whole number 9223372036854775808 at .a.b[1] is outside the 64-bit integer range",
		`123456789012345678901234567890`:      "whole number 123456789012345678901234567890 at the top is outside",
		`{"x-y":-9223372036854775809}`:        `whole number -9223372036854775809 at ["x-y"] is outside`,
		`[1e999]`:                             "number 1e999 at [0] is outside the range of a 64-bit float",
	} {
		if _, err := decodeValue([]byte(in)); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: err %v, want %q", in, err, msg)
		}
	}
	if err := CheckJSON([]byte(`{"n": 123456789012345678901234567890}`)); err == nil {
		t.Error("CheckJSON accepted a whole number beyond int64")
	}
}

// Whole numbers beyond 2^53 survive the state's round trip (a resume): the
// state decoded them as float64 before.
func TestInstanceRoundTripBigIntegers(t *testing.T) {
	in := newInstance(time.Unix(0, 0).UTC())
	m := in.newThread(threadMain, "", 0, map[string]any{"n": 9007199254740993})
	m.Steps["a"] = []any{9223372036854775807}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := decodeInstance(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Threads["main"].Input.(map[string]any)["n"]; got != 9007199254740993 {
		t.Errorf("input n: %v (%T)", got, got)
	}
	if got := out.Threads["main"].Steps["a"].([]any)[0]; got != 9223372036854775807 {
		t.Errorf("steps.a[0]: %v (%T)", got, got)
	}
}

func TestCheckID(t *testing.T) {
	for id, msg := range map[string]string{
		"order-1":                "",
		strings.Repeat("x", 200): "",
		strings.Repeat("é", 100): "",
		"订单-١٢٣":                 "",
		"":                       "workflow id is empty",
		strings.Repeat("x", 201): "workflow id of 201 bytes exceeds the 200 byte limit",
		strings.Repeat("é", 101): "workflow id of 202 bytes exceeds the 200 byte limit",
		"a\x00b":                 `workflow id "a\x00b" holds control character U+0000 at byte 1`,
		"tab\there":              `workflow id "tab\there" holds control character U+0009 at byte 3`,
		"del\x7f":                `holds control character U+007F`,
		"c1\u0085":               `holds control character U+0085`,
		"bad\xc3":                `workflow id "bad\xc3" is not valid UTF-8`,
	} {
		err := CheckID(id)
		if (err == nil) != (msg == "") || (err != nil && !strings.Contains(err.Error(), msg)) {
			t.Errorf("%q: %v, want %q", id, err, msg)
		}
	}
}
