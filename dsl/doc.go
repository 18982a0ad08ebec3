// Package dsl reads flow files: YAML (gopkg.in/yaml.v3) into an AST that
// keeps file, line and column for every key and value, and the diagnostic
// type every front-end error is reported with. It knows YAML only: it
// imports nothing else of memflow.
package dsl
