package compiler

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/memflow/memflow/dsl"
	"github.com/memflow/memflow/schemas"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// fileSchema validates whole flow files against schemas/flow.schema.json.
type fileSchema struct {
	sch *jsonschema.Schema
	err error
}

// flowSchema is the compiled flow schema, built once on first use and
// never changed after (compiling it takes milliseconds; loads are frequent).
var flowSchema = sync.OnceValue(newFileSchema)

func newFileSchema() *fileSchema {
	sch, err := CompileSchema(schemas.Flow())
	return &fileSchema{sch: sch, err: err}
}

// validate reports where file f breaks the flow schema. Each problem is
// placed on the node the schema error's instance location names (on the key
// itself for unknown keys).
func (s *fileSchema) validate(f *dsl.File) dsl.Diagnostics {
	if s.err != nil {
		return dsl.Diagnostics{{Pos: f.Root.Pos(), Severity: dsl.Error, Message: fmt.Sprintf("flow schema: %v", s.err)}}
	}
	return ValidateFile(s.sch, f)
}

// ValidateFile reports where the YAML file f breaks sch, each problem placed
// on the node the schema error names (on the key itself for unknown keys).
// Flow files and flow test files are checked this way.
func ValidateFile(sch *jsonschema.Schema, f *dsl.File) dsl.Diagnostics {
	raw, err := f.Root.Value()
	if err != nil {
		return nil // reported by the compiler
	}
	data, err := json.Marshal(raw)
	if err != nil {
		return nil
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil
	}
	err = sch.Validate(inst)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	var ds dsl.Diagnostics
	add := func(n dsl.Node, format string, args ...any) {
		ds = append(ds, dsl.Diagnostic{Pos: n.Pos(), Severity: dsl.Error, Message: fmt.Sprintf(format, args...)})
	}
	for _, leaf := range Leaves(ve) {
		n := f.Root.At(leaf.InstanceLocation)
		switch k := leaf.ErrorKind.(type) {
		case *kind.AdditionalProperties:
			for _, p := range k.Properties {
				_, key := n.Get(p)
				if !key.Exists() {
					key = n
				}
				add(key, "unknown key %q", p)
			}
		case *kind.PropertyNames:
			_, key := n.Get(k.Property)
			if !key.Exists() {
				key = n
			}
			add(key, "bad name %q", k.Property)
		case *kind.Required:
			at := f.Root.KeyAt(leaf.InstanceLocation)
			for _, m := range k.Missing {
				add(at, "missing key %q", m)
			}
		default:
			add(n, "%s", LeafMessage(leaf))
		}
	}
	return ds
}

// mergeSchemaDiags adds schema diagnostics that the compiler did not
// already report on the same line (its messages are the more specific).
func mergeSchemaDiags(compiled, fromSchema dsl.Diagnostics) dsl.Diagnostics {
	type line struct {
		file string
		n    int
	}
	seen := map[line]bool{}
	for _, d := range compiled {
		if d.Severity == dsl.Error {
			seen[line{d.Pos.File, d.Pos.Line}] = true
		}
	}
	out := compiled
	for _, d := range fromSchema {
		if !seen[line{d.Pos.File, d.Pos.Line}] {
			out = append(out, d)
		}
	}
	return out
}
