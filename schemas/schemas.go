package schemas

import (
	"bytes"
	_ "embed"
)

//go:embed flow.schema.json
var flow []byte

//go:embed test.schema.json
var test []byte

// Test returns the JSON Schema (draft 2020-12) of a flow test file
// (memflow test).
func Test() []byte { return bytes.Clone(test) }

// Flow returns the JSON Schema (draft 2020-12) of a flow file.
func Flow() []byte { return bytes.Clone(flow) }
