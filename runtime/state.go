package runtime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"
)

// instance is the runtime state of one workflow instance, stored as JSON in
// jobs.state and changed only inside the transaction that locks the job row.
type instance struct {
	// NextThread numbers threads in creation order ("main" is 0).
	NextThread int                `json:"nextThread"`
	Threads    map[string]*thread `json:"threads"`
	// NextChild numbers the children started with a default id, across
	// every thread, so each child step, branch, iteration and hook run
	// starts its own (absent in states written before: 0).
	NextChild int `json:"nextChild,omitempty"`
	// Signals holds signals received before anyone waited, by name, oldest
	// first.
	Signals  map[string][]any `json:"signals,omitempty"`
	Children []childRef       `json:"children,omitempty"` // started child workflows
	Parent   *parentLink      `json:"parent,omitempty"`   // awaited by this parent step
	Watchers []parentLink     `json:"watchers,omitempty"` // other steps awaiting it (joined an existing id)
	// Returned holds the value of the return step that ended the main
	// thread while hooks still run (nil: the workflow's result applies).
	Returned  *returned `json:"returned,omitempty"`
	StartedAt time.Time `json:"startedAt"`
	// Events counts the history rows the instance has written (bounded by
	// Limits.MaxHistory).
	Events int `json:"events,omitempty"`
	// ExpireMS, when positive, is how long after its end the instance's
	// rows are deleted (StartParams.Expire).
	ExpireMS int64 `json:"expireMs,omitempty"`
	// Trace is the W3C traceparent of the instance's root span (and
	// TraceState its tracestate): every transition and activity attempt
	// span of the instance, in any process, is its child (trace.go). Empty
	// when the instance started untraced.
	Trace      string `json:"trace,omitempty"`
	TraceState string `json:"traceState,omitempty"`
}

// childRef names a child instance (its queue receives the cancel task).
// A detached child (await: false) is cancelled only when this instance is.
type childRef struct {
	ID       string `json:"id"`
	Queue    string `json:"queue"`
	Detached bool   `json:"detached,omitempty"`
	// Ended: the child told this instance it ended, so ending this
	// instance sends it no cancel.
	Ended bool `json:"ended,omitempty"`
}

// returned is the value of a return step of the main thread.
type returned struct {
	Value any `json:"value"`
}

// parentLink names the step of another instance awaiting this child.
type parentLink struct {
	Job    string `json:"job"`
	Queue  string `json:"queue"`
	Thread string `json:"thread"`
	Tick   int64  `json:"tick"`
}

// Thread kinds.
const (
	threadMain   = "main"
	threadHook   = "hook"
	threadBranch = "branch"
)

// What a thread waits for (thread.Wait). "" means runnable.
const (
	waitActivity = "activity"
	waitSignal   = "signal"
	waitSleep    = "sleep"
	waitJoin     = "join"
	waitHook     = "hook"
	waitChild    = "child"
	// waitEnd parks the main thread at its end while hooks it started
	// still run: the instance completes when the last of them ends.
	waitEnd = "end"
)

// thread is one line of execution over a graph: the workflow's main thread,
// a hook run, or a branch of a parallel or forEach step.
type thread struct {
	ID    string `json:"id"`
	Num   int    `json:"num"`
	Kind  string `json:"kind"`
	Graph string `json:"graph,omitempty"` // hook name; "" for the workflow graph
	State int    `json:"state"`
	// Tick counts state entries; a task names the tick it was made for, so
	// a stale task (the thread moved on) is recognised and dropped.
	Tick   int64          `json:"tick"`
	Visits map[int]int    `json:"visits,omitempty"` // entries per state (iteration)
	Loops  map[int]int    `json:"loops,omitempty"`  // while iterations, by state
	Input  any            `json:"input,omitempty"`
	Steps  map[string]any `json:"steps,omitempty"`
	Vars   map[string]any `json:"vars,omitempty"`
	Last   any            `json:"last,omitempty"` // a branch's output (see producesOutput)
	Wait   string         `json:"wait,omitempty"`
	Signal string         `json:"signal,omitempty"` // when waiting for a signal
	// Parent is the thread whose step awaits this one; Slot its place in the
	// parent's join (-1: the parent awaits this one alone).
	Parent string `json:"parent,omitempty"`
	Slot   int    `json:"slot"`
	// Notify names a thread waiting (at NotifyTick) for a signal this hook
	// should send: the hook's failure fails that wait. Unlike Parent, it
	// does not tie the hook's life to that thread.
	Notify     string `json:"notify,omitempty"`
	NotifyTick int64  `json:"notifyTick,omitempty"`
	// BaseCatch is the catch in force where a branch was forked: a failure
	// whose catch is BaseCatch belongs to the parent, not the branch.
	BaseCatch int   `json:"baseCatch"`
	Join      *join `json:"join,omitempty"`
}

// join tracks the branches of a parallel or forEach step.
type join struct {
	Results []any      `json:"results"`
	Items   []any      `json:"items,omitempty"` // forEach items
	Next    int        `json:"next"`            // next forEach item to start
	Running int        `json:"running"`
	Failed  *stepError `json:"failed,omitempty"`
}

// stepError is a failed step as flows see it in `error`.
type stepError struct {
	Message  string `json:"message"`
	Type     string `json:"type"`
	Step     string `json:"step"`
	Attempts int    `json:"attempts,omitempty"`
}

func (e *stepError) Error() string { return e.Message }

func (e *stepError) value() map[string]any {
	return map[string]any{"message": e.Message, "type": e.Type, "step": e.Step, "attempts": e.Attempts}
}

func newInstance(now time.Time) *instance {
	return &instance{Threads: map[string]*thread{}, StartedAt: now}
}

func (in *instance) newThread(kind, graph string, entry int, input any) *thread {
	id := "main"
	if kind != threadMain {
		in.NextThread++
		id = "t" + strconv.Itoa(in.NextThread)
	}
	t := &thread{ID: id, Num: in.NextThread, Kind: kind, Graph: graph, State: entry, Input: input,
		Steps: map[string]any{}, Slot: -1, BaseCatch: -1, Tick: 1}
	if kind == threadMain {
		t.Num = 0
	}
	t.Visits = map[int]int{entry: 1}
	in.Threads[id] = t
	return t
}

// threadsByNum lists threads in creation order.
func (in *instance) threadsByNum() []*thread {
	ts := make([]*thread, 0, len(in.Threads))
	for _, t := range in.Threads {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Num < ts[j].Num })
	return ts
}

func decodeInstance(b []byte) (*instance, error) {
	in := &instance{}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // whole numbers beyond 2^53 stay exact (normalize below)
	if err := d.Decode(in); err != nil {
		return nil, fmt.Errorf("decode instance state: %w", err)
	}
	if in.Threads == nil {
		in.Threads = map[string]*thread{}
	}
	for name, sigs := range in.Signals {
		for i := range sigs {
			sigs[i] = normalize(sigs[i])
		}
		in.Signals[name] = sigs
	}
	if in.Returned != nil {
		in.Returned.Value = normalize(in.Returned.Value)
	}
	for _, t := range in.Threads {
		t.Input = normalize(t.Input)
		t.Last = normalize(t.Last)
		if t.Steps == nil {
			t.Steps = map[string]any{}
		}
		normalize(t.Steps)
		normalize(t.Vars)
		if t.Visits == nil {
			t.Visits = map[int]int{}
		}
		if t.Join != nil {
			normalize(t.Join.Results)
			normalize(t.Join.Items)
		}
	}
	return in, nil
}
