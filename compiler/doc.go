// Package compiler turns flow ASTs (package dsl) into explicit state
// machines (Program, Graph, State), compiles every expression with
// expr-lang/expr against a typed environment, and resolves every reference.
// It imports dsl, schemas, internal/flowfile (which files a folder's flows
// are) and its libraries (expr, jsonschema); never the runtime or the store.
//
// Load and LoadFiles read a folder of flow files as one catalogue: each file
// is parsed, validated against schemas/flow.schema.json, and compiled; every
// problem is reported as a dsl.Diagnostic (sorted, at most MaxErrorsPerFile
// errors per file), and the catalogue is nil when there is any error.
//
// Choices where the language spec is silent:
//
//   - `if`, `while`, `when`, `forEach` and switch `when` take one expression:
//     `${ EXPR }` or bare expression text (`when: input.ok`), as GitHub
//     Actions' `if:` does. Text around a `${ }` there is an error.
//   - `try` requires `catch` (to ignore failures, give a catch that does
//     nothing visible, such as a `log` activity).
//   - steps.<id> may name a step that can have completed before the use on
//     the same thread: an earlier step of the sequence, or a step nested in
//     an earlier if/switch/while/try (it may have been skipped: its output
//     is then null). Steps of a parallel branch or a forEach body are
//     visible inside that branch only; after the step, its own output (the
//     list of branch outputs) is read. Inside a while body, steps of the
//     body are visible (from an earlier iteration); inside catch, steps of
//     the try. A sibling branch, another arm of an if or switch, a later
//     step and the step itself are errors.
//   - Durations are Go durations of at least 1ms; workflow and retry
//     durations are constants, step timeouts and sleeps may be expressions.
//   - Step ids are letters, digits, '_' and '-'; workflow and hook names also
//     allow '.'; a workflow and a hook may not share a name.
//   - Hooks belong to their file's app; a program carries every hook of its
//     app. Entity type names are unique across the catalogue.
//   - The built-in activities http.request and log are always known.
//   - YAML block scalars keep YAML's meaning: `|` and `>` end with a newline,
//     so `${ x }` written in one is an interpolated string; use `|-` for a
//     typed value.
//   - Numbers: whole YAML numbers are ints in templates, also after a
//     Program's JSON round trip (DecodeProgram).
//   - forEach always waits for each branch to end (its output is the list
//     of branch outputs): `signal:` and `await:` are refused on it, by the
//     compiler and the schema alike, at the key. To start hooks without
//     waiting, use a forEach with steps: holding a hook step with
//     await: false.
package compiler
