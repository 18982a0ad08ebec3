// Package schemas embeds the JSON Schemas memflow publishes: flow.schema.json
// describes flow files (editors use it for completion; the compiler
// validates every file against it). It imports nothing of memflow.
package schemas

import (
	"bytes"
	_ "embed"
)

//go:embed flow.schema.json
var flow []byte

// Flow returns the JSON Schema (draft 2020-12) of a flow file.
func Flow() []byte { return bytes.Clone(flow) }
