// Package schemas embeds the JSON Schemas memflow publishes:
// flow.schema.json describes flow files (editors use it for completion
// through a `# yaml-language-server: $schema=...` comment; the compiler
// validates every file against it). It imports nothing of memflow.
package schemas
