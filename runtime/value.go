package runtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/memflow/memflow/compiler"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// MaxPayload bounds one JSON value the runtime stores: start arguments, an
// activity result, a signal's data, the entity document.
const MaxPayload = 4 << 20

// MaxNesting bounds how deeply one JSON value the runtime stores may nest
// objects and arrays: `[]` and `{"a":1}` are one level deep, `{"a":[1]}` two.
// Deeper start arguments, hook arguments, signal data, activity results and
// entity documents are refused.
const MaxNesting = 100

// MaxIDBytes bounds a workflow instance id, in bytes of UTF-8.
const MaxIDBytes = 200

// CheckID reports whether id may name a workflow instance: 1 to MaxIDBytes
// bytes of valid UTF-8 without control characters.
func CheckID(id string) error {
	switch {
	case id == "":
		return errors.New("workflow id is empty")
	case len(id) > MaxIDBytes:
		return fmt.Errorf("workflow id of %d bytes exceeds the %d byte limit", len(id), MaxIDBytes)
	case !utf8.ValidString(id):
		return fmt.Errorf("workflow id %q is not valid UTF-8", id)
	}
	for i, r := range id {
		if unicode.IsControl(r) {
			return fmt.Errorf("workflow id %q holds control character %U at byte %d", id, r, i)
		}
	}
	return nil
}

// CheckJSON reports whether b is one JSON value the runtime accepts: at
// most MaxPayload bytes, nested at most MaxNesting levels, every whole number
// written without fraction or exponent within the 64-bit integer range (so
// it is kept exactly, never rounded to a float).
func CheckJSON(b []byte) error {
	if len(b) > MaxPayload {
		return fmt.Errorf("value of %d bytes exceeds the %d byte limit", len(b), MaxPayload)
	}
	_, err := decodeValue(b)
	return err
}

// checkDepth scans b without decoding it (so without recursion) and refuses
// a value nested more than MaxNesting levels deep.
func checkDepth(b []byte) error {
	depth, deepest, inString, escaped := 0, 0, false, false
	for _, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			depth++
			deepest = max(deepest, depth)
		case ']', '}':
			depth--
		}
	}
	if deepest > MaxNesting {
		return fmt.Errorf("value is nested %d levels deep; the limit is %d", deepest, MaxNesting)
	}
	return nil
}

// decodeValue decodes JSON with whole numbers as int (as expressions expect).
// It refuses a value nested more than MaxNesting levels deep (before decoding
// it) and a whole number beyond the 64-bit integer range.
func decodeValue(b []byte) (any, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	if err := checkDepth(b); err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if err := checkIntegers(v, nil); err != nil {
		return nil, err
	}
	return normalize(v), nil
}

// checkIntegers refuses a number written as a whole number (no fraction, no
// exponent) that int64 cannot hold, which would otherwise turn into a
// rounded float, and a number too large for a float64. path locates it for
// the message.
func checkIntegers(v any, path []string) error {
	switch t := v.(type) {
	case json.Number:
		at := jsonPath(path)
		if at == "" {
			at = "the top"
		}
		if _, err := t.Int64(); err != nil && !strings.ContainsAny(string(t), ".eE") {
			return fmt.Errorf("whole number %s at %s is outside the 64-bit integer range (%d to %d); send it as a string",
				t, at, math.MinInt64, math.MaxInt64)
		}
		if f, err := t.Float64(); err != nil && math.IsInf(f, 0) {
			return fmt.Errorf("number %s at %s is outside the range of a 64-bit float", t, at)
		}
	case []any:
		for i, e := range t {
			if err := checkIntegers(e, append(path, strconv.Itoa(i))); err != nil {
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
			if err := checkIntegers(t[k], append(path, k)); err != nil {
				return err
			}
		}
	}
	return nil
}

// normalize turns json.Number values into int (whole numbers that fit) or
// float64, in place where possible.
func normalize(v any) any {
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil && !strings.ContainsAny(string(t), ".eE") {
			return int(i)
		}
		f, _ := t.Float64()
		if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int(f)
		}
		return f
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1<<53 {
			return int(t)
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = normalize(e)
		}
		return t
	case map[string]any:
		for k, e := range t {
			t[k] = normalize(e)
		}
		return t
	default:
		return v
	}
}

// jsonify turns an evaluated value into its stored form (a JSON round trip),
// so a value reads the same in this transaction and after a resume.
func jsonify(v any) (any, []byte, error) {
	b, err := json.Marshal(fixTimes(v))
	if err != nil {
		return nil, nil, fmt.Errorf("value is not JSON: %w", err)
	}
	if len(b) > MaxPayload {
		return nil, nil, fmt.Errorf("value of %d bytes exceeds the %d byte limit", len(b), MaxPayload)
	}
	out, err := decodeValue(b)
	return out, b, err
}

// fixTimes replaces the times in v (now(), workflow.startedAt, in maps and
// lists built by expressions) by their fixed-width text
// (compiler.TimeLayout), so stored times sort as text. Maps and lists
// holding a time are copied, never changed in place.
func fixTimes(v any) any {
	out, _ := fixTimesIn(v)
	return out
}

func fixTimesIn(v any) (any, bool) {
	switch x := v.(type) {
	case time.Time:
		return compiler.FormatTime(x), true
	case map[string]any:
		var out map[string]any
		for k, e := range x {
			f, changed := fixTimesIn(e)
			if !changed {
				continue
			}
			if out == nil {
				out = make(map[string]any, len(x))
				for k2, e2 := range x {
					out[k2] = e2
				}
			}
			out[k] = f
		}
		if out != nil {
			return out, true
		}
	case []any:
		var out []any
		for i, e := range x {
			f, changed := fixTimesIn(e)
			if !changed {
				continue
			}
			if out == nil {
				out = append([]any(nil), x...)
			}
			out[i] = f
		}
		if out != nil {
			return out, true
		}
	}
	return v, false
}

// compileSchema compiles a JSON Schema document held as raw JSON.
func compileSchema(name string, raw json.RawMessage) (*jsonschema.Schema, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("schema %s: %w", name, err)
	}
	c := jsonschema.NewCompiler()
	url := "memflow:///" + name + ".json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("schema %s: %w", name, err)
	}
	s, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("schema %s: %w", name, err)
	}
	return s, nil
}

// schemaProblems renders why v failed a schema, one problem per leaf error,
// each located from root as flows write it: `input: missing property
// "query"`, `input.items[2].count: want integer, got string`.
func schemaProblems(root string, err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return root + ": " + err.Error()
	}
	var out []string
	for _, leaf := range compiler.Leaves(ve) {
		at := root + jsonPath(leaf.InstanceLocation)
		switch k := leaf.ErrorKind.(type) {
		case *kind.Required:
			for _, m := range k.Missing {
				out = append(out, fmt.Sprintf("%s: missing property %q", at, m))
			}
		case *kind.AdditionalProperties:
			for _, p := range k.Properties {
				out = append(out, fmt.Sprintf("%s: unknown property %q", at, p))
			}
		case *kind.Type:
			out = append(out, fmt.Sprintf("%s: want %s, got %s", at, strings.Join(k.Want, " or "), k.Got))
		default:
			out = append(out, at+": "+compiler.LeafMessage(leaf))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// jsonPath renders a JSON pointer's tokens as .name, [index] or ["key"].
func jsonPath(tokens []string) string {
	var b strings.Builder
	for _, tok := range tokens {
		switch {
		case tok != "" && strings.Trim(tok, "0123456789") == "":
			b.WriteString("[" + tok + "]")
		case identRE.MatchString(tok):
			b.WriteString("." + tok)
		default:
			b.WriteString("[" + strconv.Quote(tok) + "]")
		}
	}
	return b.String()
}
