package compiler

import "time"

// Env is what an expression sees when the runtime evaluates it.
type Env struct {
	Input    any            // start (or hook) arguments
	Entity   any            // entity document as committed before the step
	Steps    map[string]any // outputs of completed steps with an id
	Workflow WorkflowInfo
	// Vars holds scoped names: the forEach item/index under their (renamed)
	// names, and "error" inside catch.
	Vars map[string]any
	// Now is the engine's clock, read by now().
	Now func() time.Time
}

// WorkflowInfo is `workflow` in expressions.
type WorkflowInfo struct {
	ID        string    `expr:"id" json:"id"`
	Name      string    `expr:"name" json:"name"`
	Entity    string    `expr:"entity" json:"entity"`
	TaskQueue string    `expr:"taskQueue" json:"taskQueue"`
	StartedAt time.Time `expr:"startedAt" json:"startedAt"`
}

// Expr is one expression (`${ ... }` with the braces removed in Src). It
// serialises as its source, position and the scoped variable names it was
// compiled with; the compiled program is rebuilt lazily after decoding.
//
// Eval evaluates it with bounded cost. Errors name the expression's position.
//   func (e *Expr) Eval(env *Env) (any, error)
//
// Value is a template: any JSON value in which strings may be whole
// expressions (typed result) or interpolations (string result).
//   func (v *Value) Eval(env *Env) (any, error)
//   func (v *Value) IsConst() bool
//
// Both are implemented in expr.go.
