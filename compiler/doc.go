// Package compiler turns flow ASTs (package dsl) into explicit state
// machines (Program, Graph, State), compiles every expression with
// expr-lang/expr against a typed environment, and resolves every reference.
// It imports dsl and expr; never the runtime or the store.
package compiler
