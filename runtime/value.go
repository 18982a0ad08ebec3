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

	"github.com/memflow/memflow/compiler"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// MaxPayload bounds one JSON value the runtime stores: start arguments, an
// activity result, a signal's data, the entity document.
const MaxPayload = 4 << 20

// decodeValue decodes JSON with whole numbers as int (as expressions expect).
func decodeValue(b []byte) (any, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return normalize(v), nil
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
	b, err := json.Marshal(v)
	if err != nil {
		return nil, nil, fmt.Errorf("value is not JSON: %w", err)
	}
	if len(b) > MaxPayload {
		return nil, nil, fmt.Errorf("value of %d bytes exceeds the %d byte limit", len(b), MaxPayload)
	}
	out, err := decodeValue(b)
	return out, b, err
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
