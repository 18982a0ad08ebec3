package flowtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/memflow/memflow"
	"github.com/memflow/memflow/activities"
	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/dsl"
)

// DefaultClock is where the virtual clock starts unless told otherwise.
var DefaultClock = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// MaxTasks bounds the tasks one Run handles, so a flow that never stops
// (a loop of timers, say) fails its test instead of running forever.
const MaxTasks = 100000

// MockFunc answers one activity call: what it returns is the activity's
// result, an error its failure (an *activities.Error gives the failure a
// type that retry.nonRetryable and catch blocks match; wrap it with
// activities.NonRetryable to skip the retries).
type MockFunc func(ctx context.Context, args json.RawMessage) (any, error)

// Call is one recorded activity call.
type Call struct {
	Activity string          `json:"activity"`
	Args     json.RawMessage `json:"args"`
	Workflow string          `json:"workflowId"`
	Step     string          `json:"step"`
	Attempt  int             `json:"attempt"`
	At       time.Time       `json:"at"` // virtual time of the call
}

// Options configures New.
type Options struct {
	// Clock is where the virtual clock starts (default DefaultClock).
	Clock time.Time
	// Dir holds the embedded store; default: a new temporary folder that
	// Close removes.
	Dir string
}

// Harness runs flows on the real engine over an embedded store in a
// temporary folder, with mocked activities and a virtual clock that jumps
// to the next timer whenever nothing else can run: sleeps, wait timeouts,
// retry back-off and workflow timeouts pass at once, in order. It is not
// safe for concurrent use.
type Harness struct {
	eng     *memflow.Engine
	catalog *compiler.Catalogue
	acts    []string // the activities the flows call, all stood in for
	dir     string
	ownDir  bool

	mu       sync.Mutex
	now      time.Time
	mocks    map[string]MockFunc
	calls    []Call
	unmocked []string // activities called without a mock, in order
}

// New compiles the flow files (or folders) at paths, opens an engine on a
// fresh embedded store and loads them; every activity the flows call is
// replaced by a stand-in that answers with the mock Mock gives it, or fails
// (non-retryable) when there is none. A flow that does not load is a
// *memflow.FlowError.
func New(ctx context.Context, opts Options, paths ...string) (*Harness, error) {
	cat, err := compile(paths)
	if err != nil {
		return nil, err
	}
	return open(ctx, opts, cat, paths)
}

func open(ctx context.Context, opts Options, cat *compiler.Catalogue, paths []string) (*Harness, error) {
	h := &Harness{catalog: cat, acts: activityNames(cat), mocks: map[string]MockFunc{}, now: opts.Clock, dir: opts.Dir}
	if h.now.IsZero() {
		h.now = DefaultClock
	}
	if h.dir == "" {
		d, err := os.MkdirTemp("", "memflow-test-")
		if err != nil {
			return nil, err
		}
		h.dir, h.ownDir = d, true
	}
	eng, err := memflow.Open(ctx, "sqlite:"+filepath.Join(h.dir, "test.db"), memflow.Config{App: "flowtest", Clock: h.Now})
	if err != nil {
		h.Close()
		return nil, err
	}
	h.eng = eng
	for _, name := range h.acts {
		if err := eng.Activities().Replace(name, h.stand(name)); err != nil {
			h.Close()
			return nil, err
		}
	}
	if err := eng.LoadFlows(ctx, paths...); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// compile loads paths the way the engine will, with every activity name
// accepted (they are all mocked), so the activities can be known first.
func compile(paths []string) (*compiler.Catalogue, error) {
	cat, ds := compiler.Load(paths, compiler.Options{})
	if ds.HasErrors() {
		fe := &memflow.FlowError{}
		for _, d := range ds {
			if d.Severity == dsl.Error {
				fe.Diagnostics = append(fe.Diagnostics, d.String())
			}
		}
		return nil, fe
	}
	return cat, nil
}

// activityNames lists the activities the catalogue's flows call.
func activityNames(cat *compiler.Catalogue) []string {
	seen := map[string]bool{}
	for _, p := range cat.Programs {
		for _, g := range graphs(p) {
			for _, s := range g.States {
				if s.Activity != "" {
					seen[s.Activity] = true
				}
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// graphs lists a program's workflow graph and its hooks' graphs.
func graphs(p *compiler.Program) []*compiler.Graph {
	out := []*compiler.Graph{p.Workflow}
	names := make([]string, 0, len(p.Hooks))
	for n := range p.Hooks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out = append(out, p.Hooks[n])
	}
	return out
}

// stand is the registered stand-in of activity name: it records the call
// and answers with the current mock.
func (h *Harness) stand(name string) func(ctx context.Context, args json.RawMessage) (json.RawMessage, error) {
	return func(ctx context.Context, args json.RawMessage) (json.RawMessage, error) {
		info, _ := activities.InfoFrom(ctx)
		h.mu.Lock()
		h.calls = append(h.calls, Call{Activity: name, Args: append(json.RawMessage(nil), args...), Workflow: info.WorkflowID,
			Step: info.StepID, Attempt: info.Attempt, At: h.now})
		fn := h.mocks[name]
		if fn == nil {
			h.unmocked = append(h.unmocked, name)
		}
		h.mu.Unlock()
		if fn == nil {
			return nil, activities.NonRetryable(&activities.Error{Type: "Unmocked",
				Message: fmt.Sprintf("activity %s has no mock in this test", name)})
		}
		out, err := fn(ctx, args)
		if err != nil {
			return nil, err
		}
		return json.Marshal(out)
	}
}

// Mock makes fn answer every later call of activity name (replacing an
// earlier mock). The flows must call name.
func (h *Harness) Mock(name string, fn MockFunc) error {
	if !slices.Contains(h.acts, name) {
		return fmt.Errorf("mock %s: no loaded flow calls this activity (it calls: %v)", name, h.acts)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mocks[name] = fn
	return nil
}

// Returns is a MockFunc that always returns v.
func Returns(v any) MockFunc {
	return func(context.Context, json.RawMessage) (any, error) { return v, nil }
}

// Fails is a MockFunc that always fails with an error of the given type.
func Fails(typ, message string) MockFunc {
	return func(context.Context, json.RawMessage) (any, error) {
		return nil, &activities.Error{Type: typ, Message: message}
	}
}

// Sequence answers the nth call with the nth function, and every call after
// the last with the last.
func Sequence(fns ...MockFunc) MockFunc {
	var mu sync.Mutex
	n := 0
	return func(ctx context.Context, args json.RawMessage) (any, error) {
		mu.Lock()
		i := min(n, len(fns)-1)
		n++
		mu.Unlock()
		return fns[i](ctx, args)
	}
}

// Engine is the engine under test: read results, entities, status and
// history through it, or send signals and hooks (then Run).
func (h *Harness) Engine() *memflow.Engine { return h.eng }

// Catalogue is the compiled flows.
func (h *Harness) Catalogue() *compiler.Catalogue { return h.catalog }

// Now is the virtual time.
func (h *Harness) Now() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

func (h *Harness) setNow(t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t.After(h.now) {
		h.now = t
	}
}

// Calls lists the recorded calls of activity name ("" every activity), in
// the order they were made.
func (h *Harness) Calls(name string) []Call {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Call
	for _, c := range h.calls {
		if name == "" || c.Activity == name {
			out = append(out, c)
		}
	}
	return out
}

// Unmocked lists the activities that were called without a mock.
func (h *Harness) Unmocked() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.unmocked...)
}

// Start starts workflow with args and handles what is due at once (see
// Settle), without moving the clock. It returns the instance id.
func (h *Harness) Start(ctx context.Context, workflow string, args any, opts ...memflow.StartOption) (string, error) {
	id, err := h.eng.Start(ctx, workflow, args, opts...)
	if err != nil {
		return "", err
	}
	return id, h.Settle(ctx)
}

// Signal sends a signal to instance id and handles what is due (Settle).
func (h *Harness) Signal(ctx context.Context, id, name string, data any) error {
	if err := h.eng.Signal(ctx, id, name, data); err != nil {
		return err
	}
	return h.Settle(ctx)
}

// Hook starts hook on instance id and handles what is due (Settle).
func (h *Harness) Hook(ctx context.Context, id, hook string, args any) error {
	if err := h.eng.Hook(ctx, id, hook, args); err != nil {
		return err
	}
	return h.Settle(ctx)
}

// Settle handles every task due at the current virtual time, and those they
// make due, without moving the clock: afterwards each instance waits for
// a timer, a signal or a hook, or has ended.
func (h *Harness) Settle(ctx context.Context) error {
	return h.drive(ctx, nil, h.Now())
}

// Run handles every task due now, then moves the virtual clock to the next
// timer and goes on, until no task is left: every instance has ended or
// waits for something from outside without a timeout. Sleeps, wait
// timeouts, retry back-off and workflow timeouts pass at once, in order.
func (h *Harness) Run(ctx context.Context) error {
	return h.drive(ctx, nil, time.Time{})
}

// Advance moves the virtual clock forward by d, handling every timer due
// on the way in order; timers due later stay pending.
func (h *Harness) Advance(ctx context.Context, d time.Duration) error {
	return h.drive(ctx, nil, h.Now().Add(d))
}

// ErrTooManyTasks is what Run returns when a run handles MaxTasks tasks
// without settling.
var ErrTooManyTasks = errors.New("flow test: the instances did not settle")

// drive is the run loop: handle what is due; then let idle (if set) act
// (send a signal an instance now waits for, say), and when it did not,
// jump the clock to the next due task (or to idle's own next time), no
// further than until when set.
func (h *Harness) drive(ctx context.Context, idle func(next time.Time, ok bool) (bool, error), until time.Time) error {
	handled := 0
	for {
		n, err := h.eng.RunDue(ctx, MaxTasks-handled)
		if err != nil {
			return err
		}
		handled += n
		if handled >= MaxTasks {
			return fmt.Errorf("%w after %d tasks (virtual time %s)", ErrTooManyTasks, handled, h.Now().Format(time.RFC3339))
		}
		next, ok, err := h.eng.NextDue(ctx)
		if err != nil {
			return err
		}
		if !until.IsZero() && ok && next.After(until) {
			ok = false
		}
		if idle != nil {
			acted, err := idle(next, ok)
			if err != nil {
				return err
			}
			if acted {
				continue
			}
		}
		if !ok {
			if !until.IsZero() {
				h.setNow(until)
			}
			return nil
		}
		h.setNow(next)
	}
}

// Close closes the engine and removes the temporary store.
func (h *Harness) Close() error {
	var err error
	if h.eng != nil {
		err = h.eng.Close()
	}
	if h.ownDir {
		os.RemoveAll(h.dir)
	}
	return err
}
