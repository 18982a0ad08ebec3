package compiler

import (
	"encoding/json"
	"fmt"
)

// This file fixes the compiled form of a flow: the explicit state machine the
// runtime executes. It is serialisable JSON so the runtime can store a version
// in the database and resume any instance from the database alone.
// Changes to these types must be additive.

// Pos is a position in a flow file.
type Pos struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Catalogue is a loaded folder of flow files: every workflow compiled into
// its own Program.
type Catalogue struct {
	Programs map[string]*Program `json:"programs"` // by workflow name
	// HookOwners maps a hook name to the workflow programs containing it.
	Files []string `json:"files"`
}

// Program is one workflow with everything it can run on its entity: its own
// graph and every hook of the catalogue's app (hooks can be started on an
// instance from outside, so all of them are included). Version is computed by
// versions (version.go): it changes exactly when what the workflow runs does.
type Program struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	App       string `json:"app,omitempty"`
	File      string `json:"file"`
	Entity    string `json:"entity"`
	TaskQueue string `json:"taskQueue,omitempty"`
	// EntitySchema is the entity type's JSON Schema, if declared.
	EntitySchema json.RawMessage `json:"entitySchema,omitempty"`
	// Indexes are the entity type's declared indexed fields (dotted paths).
	Indexes []string `json:"indexes,omitempty"`
	// ArrayIndexes are the entity type's declared array fields indexed
	// for "contains" (dotted paths).
	ArrayIndexes []string `json:"arrayIndexes,omitempty"`
	// Workflow is the workflow's graph; Hooks the hooks, by name.
	Workflow *Graph            `json:"workflow"`
	Hooks    map[string]*Graph `json:"hooks,omitempty"`
	// Children names workflows this one starts as children (resolved at
	// start time to their newest version).
	Children []string `json:"children,omitempty"`
}

// Graph is the state machine of one workflow or hook. States are numbered by
// their index in States. A thread of execution starts at Entry and follows
// Next until a state's Next is End.
type Graph struct {
	Kind      string          `json:"kind"` // "workflow" or "hook"
	Name      string          `json:"name"`
	Pos       Pos             `json:"pos"`
	TaskQueue string          `json:"taskQueue,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`     // JSON Schema of the arguments
	TimeoutMS int64           `json:"timeoutMs,omitempty"` // whole run; 0 none
	Entry     int             `json:"entry"`
	States    []*State        `json:"states"`
	// Result is the result template; nil means the default (workflow: the
	// entity document; hook: null).
	Result *Value `json:"result,omitempty"`
}

// End as a state number means "this thread ends here": the end of the graph
// for the main thread, the end of a branch for a branch thread.
const End = -1

// Kind of a state.
type Kind string

// State kinds: one per step action of the language, plus control nodes.
const (
	KCommand  Kind = "command"  // Commands applied in one commit
	KActivity Kind = "activity" // Activity with Args, TimeoutMS, Retry
	KHook     Kind = "hook"     // start Hook with Args; Await; Signal
	KParallel Kind = "parallel" // Branches (entry states), join when all end
	KForEach  Kind = "forEach"  // Items; one branch per item at Body (or a Hook)
	KWait     Kind = "wait"     // wait for signal named Signal; TimeoutMS/Timeout
	KSignal   Kind = "signal"   // emit Signal with Data to To (nil: this workflow)
	KSleep    Kind = "sleep"    // Duration or Until
	KChild    Kind = "child"    // start Workflow as WorkflowID with Args; Await
	KIf       Kind = "if"       // Cond ? Then : Else
	KSwitch   Kind = "switch"   // first Case whose When holds, else Default
	KWhile    Kind = "while"    // Cond ? Body : Next; at most MaxIterations
	KTry      Kind = "try"      // run Body; a failure inside jumps to Catch
	KReturn   Kind = "return"   // end the run with Value
	KFail     Kind = "fail"     // fail the step with message Value
	KCancel   Kind = "cancel"   // cancel instance To, or stop the running runs of Hook
)

// State is one numbered state. Only the fields of its Kind are set.
//
// Control flow: after a state completes, the thread goes to Next. Sequences
// nested in if/switch/while/try are laid out as further states whose last
// state's Next points back (while: to the while state) or onward (the
// enclosing step's Next). Catch is the catch entry of the innermost enclosing
// try, or End (-1) when none: a failing state inside a try jumps there with
// `error` in scope. Branch sequences (parallel, forEach with steps) end with
// Next = End, which ends that branch's thread.
type State struct {
	N     int    `json:"n"`
	Kind  Kind   `json:"kind"`
	ID    string `json:"id,omitempty"`   // step id (for steps.<id>), unique in the graph
	Name  string `json:"name,omitempty"` // display name
	Label string `json:"label"`          // id, else a generated label such as "step-3"
	Pos   Pos    `json:"pos"`
	When  *Expr  `json:"when,omitempty"` // skip (go to Next, output null) when false
	Next  int    `json:"next"`
	Catch int    `json:"catch"`

	// KCommand
	Commands []Command `json:"commands,omitempty"`

	// KActivity (Args also for KHook, KChild and forEach hooks)
	Activity  string `json:"activity,omitempty"`
	Args      *Value `json:"args,omitempty"`
	TimeoutMS int64  `json:"timeoutMs,omitempty"` // activity per attempt; wait timeout
	Timeout   *Value `json:"timeout,omitempty"`   // when the duration is an expression
	Retry     *Retry `json:"retry,omitempty"`

	// KHook (and KForEach when each branch is a hook)
	Hook   string `json:"hook,omitempty"`
	Signal *Value `json:"signal,omitempty"` // KHook: wait for this signal instead of the end; KWait/KSignal: the name
	Await  *bool  `json:"await,omitempty"`  // KHook, KChild; nil means true

	// KParallel
	Branches []int `json:"branches,omitempty"`

	// KForEach
	Items       *Expr  `json:"items,omitempty"`
	As          string `json:"as,omitempty"`      // default "item"
	IndexAs     string `json:"indexAs,omitempty"` // default "index"
	Concurrency int    `json:"concurrency,omitempty"`
	FailFast    bool   `json:"failFast,omitempty"` // also KParallel
	Body        int    `json:"body"`               // KForEach (steps), KWhile, KTry: entry of the nested sequence; End if none

	// KSignal (KCancel: the instance to cancel)
	To   *Value `json:"to,omitempty"`
	Data *Value `json:"data,omitempty"`

	// KSleep
	DurationMS int64  `json:"durationMs,omitempty"`
	Duration   *Value `json:"duration,omitempty"` // when an expression
	Until      *Value `json:"until,omitempty"`

	// KChild
	Workflow   string `json:"workflow,omitempty"`
	WorkflowID *Value `json:"workflowId,omitempty"`

	// KIf, KWhile
	Cond          *Expr `json:"cond,omitempty"`
	Then          int   `json:"then"`
	Else          int   `json:"else"` // End-free: when there is no else, Else == Next
	MaxIterations int   `json:"maxIterations,omitempty"`

	// KSwitch
	Cases   []Case `json:"cases,omitempty"`
	Default int    `json:"default"` // entry of default, or Next when none

	// KTry: Body is the try entry; CatchEntry the catch entry (Next if none)
	CatchEntry int `json:"catchEntry"`

	// KReturn, KFail
	Value *Value `json:"value,omitempty"`
}

// Case is one arm of a switch.
type Case struct {
	When  *Expr `json:"when"`
	Entry int   `json:"entry"` // first state of its steps; Next of the switch if empty
}

// Command is one entity command of a command step. Path may interpolate
// (a template string); Value is a template. Op is the language's name
// (set, merge, append, prepend, remove, increment, multiply, toggle, setIfNotExists,
// delete).
type Command struct {
	Op    string `json:"op"`
	Path  *Value `json:"path,omitempty"` // nil for whole-document set/merge
	Value *Value `json:"value,omitempty"`
	Pos   Pos    `json:"pos"`
}

// Retry is an activity's retry policy. Defaults are filled in by the
// compiler: MaxAttempts 3, InitialMS 1000, Coefficient 2, MaxMS 60000.
type Retry struct {
	MaxAttempts  int      `json:"maxAttempts"`
	InitialMS    int64    `json:"initialMs"`
	Coefficient  float64  `json:"coefficient"`
	MaxMS        int64    `json:"maxMs"`
	NonRetryable []string `json:"nonRetryable,omitempty"`
}
