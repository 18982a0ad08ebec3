package schemas

import (
	"bytes"
	_ "embed"
)

//go:embed flow.schema.json
var flow []byte

// Flow returns the JSON Schema (draft 2020-12) of a flow file.
func Flow() []byte { return bytes.Clone(flow) }
