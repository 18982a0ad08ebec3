package runtime

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/memflow/memflow/activities"
	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/internal/store"
)

// The language's semantics as tables, without a database: a machine keeps
// one instance in memory and drives the interpreter (on, drain) with events
// the way the committer does, sealing the state between transitions so each
// one starts from the decoded document exactly as after a real commit.

type machine struct {
	t     *testing.T
	e     *Engine
	p     *program
	job   *store.Job
	clock time.Time
	tasks []store.Task
	hist  []store.HistoryEvent
	// others are the other instances, by id: their status, or "absent".
	// reads lists the ids the committer was asked to read, effects what the
	// transitions did to other instances at commit.
	others   map[string]string
	reads    []string
	effects  []string
	children childSet // the workflows w starts, from the same file
}

var machineStart = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// newMachine starts workflow w of a file whose w runs steps; extra is
// YAML appended to the file (hooks:, or more keys of w indented by 4).
func newMachine(t *testing.T, steps, extra string, input any, others map[string]string) *machine {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f.yaml")
	src := "memflow: v1\nworkflows:\n  w:\n    entity: w\n    steps:\n" + indent(steps, "      ") + extra
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cat, ds := compiler.Load([]string{path}, compiler.Options{Activities: anyActivity{}})
	if cat == nil {
		t.Fatalf("flow does not load: %v\n%s", ds, src)
	}
	p, err := newProgram(cat.Programs["w"])
	if err != nil {
		t.Fatal(err)
	}
	m := &machine{t: t, p: p, clock: machineStart, others: others, children: childSet{}}
	for _, name := range p.Children {
		cp, err := newProgram(cat.Programs[name])
		if err != nil {
			t.Fatal(err)
		}
		m.children[name] = childProgram{p: cp}
	}
	lim := Limits{}
	if err := lim.defaults(); err != nil {
		t.Fatal(err)
	}
	m.e = &Engine{lim: lim, now: func() time.Time { return m.clock }, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		res: newResolver(nil), running: newInflight()}
	raw, _ := json.Marshal(input)
	first := func() (*txn, error) {
		job, in, tasks, started := m.e.newJob(p, "i-1", input, raw, nil, treePos{}, jobOpts{})
		ent, err := decodeValue(job.Context)
		if err != nil {
			return nil, err
		}
		return &txn{e: m.e, job: job, prog: p, in: in, children: m.children, fresh: true, entity: ent, entityJSON: job.Context,
			tasks: tasks, events: []store.HistoryEvent{started}, budget: maxStepsPerTx, now: job.CreatedAt}, nil
	}
	m.interpret(first, func(x *txn) error {
		x.runAll()
		x.drain()
		return nil
	})
	return m
}

// interpret runs one transition the way the committer does (interpret in
// peers.go), reading other instances from m.others, and keeps it.
func (m *machine) interpret(fresh func() (*txn, error), run func(x *txn) error) {
	m.t.Helper()
	x, err := fresh()
	if err != nil {
		m.t.Fatal(err)
	}
	pe := newPeers()
	x.peers = pe
	x, err = interpret(x, fresh, func(ids []string) error {
		for _, id := range ids {
			st, ok := m.others[id]
			if !ok {
				return fmt.Errorf("the table gives no instance %q", id)
			}
			m.reads = append(m.reads, id)
			pe.jobs[id] = nil
			if st != "absent" {
				pe.jobs[id] = &store.Job{ID: id, Flow: "kid", Status: st, TaskQueue: "q-" + id,
					Result: json.RawMessage(`"result of ` + id + `"`), Error: "it broke"}
			}
		}
		return nil
	}, run)
	if err != nil {
		m.t.Fatal(err)
	}
	m.keep(x)
}

// anyActivity lets flows name any activity.
type anyActivity struct{}

func (anyActivity) Has(string) bool { return true }
func (anyActivity) Names() []string { return nil }

func indent(s, pre string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pre + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// keep does what commit does with x's effects, in memory.
func (m *machine) keep(x *txn) {
	m.t.Helper()
	if len(x.needs) > 0 {
		m.t.Fatalf("steps need instances %v the table does not give", x.needs)
	}
	if err := x.seal(); err != nil {
		m.t.Fatal(err)
	}
	for _, k := range x.keeps {
		m.effects = append(m.effects, "keep "+k.Name+" for "+k.Target)
	}
	for _, c := range x.spawns {
		m.effects = append(m.effects, "start "+c.id)
	}
	for _, w := range x.watches {
		m.effects = append(m.effects, "watch "+w.id)
	}
	m.job = x.job
	if x.ended {
		m.tasks = nil // the committer deletes the ended instance's tasks
	}
	m.tasks = append(m.tasks, x.tasks...)
	m.hist = append(m.hist, x.events...)
}

// feed runs one transition: the event, then every runnable thread.
func (m *machine) feed(ev event) {
	m.t.Helper()
	if m.job.Status != store.StatusRunning {
		m.t.Fatalf("event %s for an instance that is %s", ev.Kind, m.job.Status)
	}
	stored := *m.job
	m.interpret(func() (*txn, error) {
		job := stored
		return m.e.resume(m.p, &job, m.children)
	}, func(x *txn) error {
		if err := x.on(ev); err != nil {
			return err
		}
		x.drain()
		return nil
	})
}

// take removes the soonest task of kind (timer kinds as "timer:sleep"),
// the first made among those due together, or with last the last made.
func (m *machine) take(kind string, last bool) (store.Task, payload) {
	m.t.Helper()
	sort.SliceStable(m.tasks, func(i, j int) bool { return m.tasks[i].DueAt.Before(m.tasks[j].DueAt) })
	found := -1
	var fp payload
	for i, t := range m.tasks {
		var p payload
		if err := json.Unmarshal(t.Payload, &p); err != nil {
			m.t.Fatal(err)
		}
		if taskName(t, p) == kind && (found < 0 || last && t.DueAt.Equal(m.tasks[found].DueAt)) {
			found, fp = i, p
		}
	}
	if found >= 0 {
		t := m.tasks[found]
		m.tasks = append(m.tasks[:found], m.tasks[found+1:]...)
		return t, fp
	}
	m.t.Fatalf("no %s task; tasks: %v", kind, m.taskNames())
	return store.Task{}, payload{}
}

func taskName(t store.Task, p payload) string {
	if t.Kind == taskTimer {
		return taskTimer + ":" + p.Timer
	}
	return t.Kind
}

func (m *machine) taskNames() []string {
	var out []string
	for _, t := range m.tasks {
		var p payload
		_ = json.Unmarshal(t.Payload, &p)
		out = append(out, taskName(t, p))
	}
	sort.Strings(out)
	return out
}

// do runs one line of a case's script:
//
//	done JSON       the soonest activity task's attempt returns JSON
//	last JSON       the activity task made last returns JSON
//	fail TYPE       it fails with an error of TYPE
//	fire KIND       the clock moves to the soonest timer of KIND, which fires
//	signal NAME JSON
//	child ID STATUS JSON  the awaited child ID ended (its task to the parent)
func (m *machine) do(line string) {
	m.t.Helper()
	verb, rest, _ := strings.Cut(line, " ")
	switch verb {
	case "done", "fail", "last":
		t, p := m.take(taskActivity, verb == "last")
		if t.DueAt.After(m.clock) {
			m.clock = t.DueAt // a retry waits out its back-off
		}
		ev := event{Kind: evOutcome, P: p, Attempt: p.Attempt + 1}
		if verb != "fail" {
			var v any
			if err := json.Unmarshal([]byte(rest), &v); err != nil {
				m.t.Fatalf("%q: %v", line, err)
			}
			ev.Result = v
		} else {
			ev.Err = &activities.Error{Type: rest, Message: "it broke"}
		}
		m.feed(ev)
	case "fire":
		t, p := m.take(taskTimer+":"+rest, false)
		m.clock = t.DueAt
		m.feed(event{Kind: taskTimer, P: p})
	case "child":
		f := strings.SplitN(rest, " ", 3)
		if len(f) != 3 {
			m.t.Fatalf("bad script line %q", line)
		}
		in, err := decodeInstance(m.job.State)
		if err != nil {
			m.t.Fatal(err)
		}
		var p payload
		for _, t := range in.Threads {
			if t.Wait == waitChild {
				p = payload{Thread: t.ID, Tick: t.Tick}
			}
		}
		p.Child, p.Status, p.Result = f[0], f[1], json.RawMessage(f[2])
		m.feed(event{Kind: taskChild, P: p})
	case "signal":
		name, data, _ := strings.Cut(rest, " ")
		m.feed(event{Kind: taskSignal, Signals: []payload{{Name: name, Data: json.RawMessage(data)}}})
	default:
		m.t.Fatalf("bad script line %q", line)
	}
}

// kid is a second workflow of the file, for child steps.
const kid = "  kid:\n    entity: k\n    steps:\n      - set: { a: 1 }\n"

func TestSemanticsTable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		steps  string
		extra  string // YAML after the steps: keys of w (4 spaces) or hooks:
		input  any
		script []string
		status string // want
		entity string // want, exact JSON ("" skips)
		result string // want, exact JSON ("" skips)
		err    string // want: the error's type ("" none)
		tasks  []string
		hist   []string // kinds of history rows that must appear, in order
		clock  time.Duration
		// others are the other instances the committer can read (status or
		// "absent"); reads (in order) and effects are what must happen.
		others  map[string]string
		reads   []string
		effects []string
	}{
		{name: "commands apply in order in one transition",
			steps: `- set: { n: 1, tags: [a] }
- increment: { n: 2 }
- append: { tags: b }
- merge: { done: true }`,
			status: "completed", entity: `{"done":true,"n":3,"tags":["a","b"]}`},
		{name: "an activity's output feeds the next step",
			steps: `- id: get
  activity: x.get
  args: { q: "${ input.q }" }
- merge: { got: "${ steps.get.v }" }`,
			input: map[string]any{"q": "hi"}, script: []string{`done {"v": 7}`},
			status: "completed", entity: `{"got":7}`},
		{name: "before its result the instance waits with one activity task",
			steps: "- activity: x.get", status: "running", tasks: []string{"activity"}},
		{name: "a failed attempt is retried after its back-off, then succeeds",
			steps: `- id: a
  activity: x.get
  retry: { maxAttempts: 3, initialInterval: 10m, maxInterval: 1h }
- merge: { v: "${ steps.a }" }`,
			script: []string{"fail Busy", "fail Busy", "done 1"},
			status: "completed", entity: `{"v":1}`, hist: []string{"retry", "retry", "step"}, clock: 30 * time.Minute},
		{name: "attempts used up fail the instance with the activity's type",
			steps: `- activity: x.get
  retry: { maxAttempts: 2, initialInterval: 1s }`,
			script: []string{"fail Busy", "fail Busy"}, status: "failed", err: "Busy", clock: time.Second},
		{name: "back-off is capped at maxInterval (default 1m)",
			steps: `- activity: x.get
  retry: { maxAttempts: 3, initialInterval: 40s }`,
			script: []string{"fail Busy", "fail Busy", "done 1"}, status: "completed", clock: 100 * time.Second},
		{name: "a non-retryable type fails at the first attempt",
			steps: `- activity: x.get
  retry: { maxAttempts: 5, nonRetryable: [Declined] }`,
			script: []string{"fail Declined"}, status: "failed", err: "Declined"},
		{name: "catch sees the error and the instance completes",
			steps: `- try:
    - activity: x.get
      retry: { maxAttempts: 1 }
  catch:
    - merge: { caught: "${ error.type }" }`,
			script: []string{"fail Broken"}, status: "completed", entity: `{"caught":"Broken"}`},
		{name: "if takes the matching arm",
			steps: `- if: ${ input.n > 1 }
  then: [ { set: { arm: then } } ]
  else: [ { set: { arm: else } } ]`,
			input: map[string]any{"n": 2}, status: "completed", entity: `{"arm":"then"}`},
		{name: "switch takes the first case that holds, else default",
			steps: `- switch:
    - when: ${ input.k == "a" }
      steps: [ { set: { k: A } } ]
    - default: [ { set: { k: other } } ]`,
			input: map[string]any{"k": "z"}, status: "completed", entity: `{"k":"other"}`},
		{name: "while runs until its condition is false",
			steps: `- set: { i: 0 }
- while: ${ entity.i < 3 }
  maxIterations: 10
  steps: [ { increment: { i: 1 } } ]`,
			status: "completed", entity: `{"i":3}`},
		{name: "while past maxIterations fails with MaxIterations",
			steps: `- set: { i: 0 }
- while: ${ true }
  maxIterations: 2
  steps: [ { increment: { i: 1 } } ]`,
			status: "failed", err: "MaxIterations"},
		{name: "a condition that is not a boolean is a TypeError",
			steps: "- if: ${ 1 }\n  then: [ { set: { a: 1 } } ]", status: "failed", err: "TypeError"},
		{name: "fail ends the instance with type Fail",
			steps: `- fail: "no ${ input.what }"`, input: map[string]any{"what": "pages"}, status: "failed", err: "Fail"},
		{name: "a sleep waits for its timer and outputs the time slept",
			steps: `- id: nap
  sleep: 72h
- set: { slept: "${ steps.nap }" }`,
			script: []string{"fire sleep"}, status: "completed", entity: `{"slept":259200000}`, clock: 72 * time.Hour},
		{name: "a wait receives its signal's data",
			steps: `- id: ok
  wait: approval
  timeout: 1h
- set: { by: "${ steps.ok.by }" }`,
			script: []string{`signal approval {"by":"ana"}`}, status: "completed", entity: `{"by":"ana"}`},
		{name: "a signal sent before the wait is kept for it",
			steps: `- id: first
  activity: x.get
- id: ok
  wait: approval
- set: { by: "${ steps.ok.by }" }`,
			script: []string{`signal approval {"by":"bo"}`, "done 1"}, status: "completed", entity: `{"by":"bo"}`},
		{name: "a wait times out with Timeout",
			steps: "- wait: approval\n  timeout: 2h", script: []string{"fire wait"}, status: "failed", err: "Timeout", clock: 2 * time.Hour},
		{name: "a timed-out wait in a try is caught",
			steps: `- try:
    - wait: approval
      timeout: 2h
  catch:
    - set: { timedOut: "${ error.type }" }`,
			script: []string{"fire wait"}, status: "completed", entity: `{"timedOut":"Timeout"}`, clock: 2 * time.Hour},
		{name: "parallel branches all run before the step completes",
			steps: `- parallel:
    - steps: [ { id: a, activity: x.a }, { merge: { a: "${ steps.a }" } } ]
    - steps: [ { id: b, activity: x.b }, { merge: { b: "${ steps.b }" } } ]
- merge: { both: true }`,
			script: []string{"done 1", "done 2"}, status: "completed", entity: `{"a":1,"b":2,"both":true}`},
		{name: "forEach outputs its branches' outputs in item order, whatever order they end in",
			steps: `- id: each
  forEach: ${ [10, 20, 30] }
  steps:
    - id: d
      activity: x.double
      args: { n: "${ item }" }
- set: { out: "${ steps.each }" }`,
			script: []string{"last 3", "done 1", "done 2"}, status: "completed", entity: `{"out":[1,2,3]}`},
		{name: "forEach over an empty list completes at once with []",
			steps:  "- id: each\n  forEach: ${ [] }\n  steps: [ { activity: x.a } ]\n- set: { out: \"${ steps.each }\" }",
			status: "completed", entity: `{"out":[]}`},
		{name: "forEach over a non-list is a TypeError",
			steps: "- forEach: ${ 3 }\n  steps: [ { activity: x.a } ]", status: "failed", err: "TypeError"},
		{name: "a failed branch fails the parallel step, which an outer try catches",
			steps: `- try:
    - parallel:
        - steps: [ { activity: x.a, retry: { maxAttempts: 1 } } ]
        - steps: [ { activity: x.b } ]
      failFast: true
  catch:
    - set: { caught: "${ error.type }" }`,
			script: []string{"fail Bad"}, status: "completed", entity: `{"caught":"Bad"}`},
		{name: "an awaited hook's result is the step's output; it changes the same entity",
			steps: `- id: h
  hook: double
  args: { n: 4 }
- merge: { out: "${ steps.h }" }`,
			extra: `hooks:
  double:
    steps:
      - merge: { seen: "${ input.n }" }
    result: ${ input.n * 2 }
`,
			status: "completed", entity: `{"out":8,"seen":4}`},
		{name: "a hook started without await runs on, and the instance waits for it before it completes",
			steps: `- hook: slow
  await: false
- merge: { main: done }`,
			extra: `hooks:
  slow:
    steps:
      - id: a
        activity: x.a
      - merge: { hook: done }
`,
			script: []string{"done 1"}, status: "completed", entity: `{"hook":"done","main":"done"}`},
		{name: "a failed awaited hook fails its step",
			steps:  "- hook: bad",
			extra:  "hooks:\n  bad:\n    steps:\n      - fail: nope\n",
			status: "failed", err: "Fail"},
		{name: "a workflow timeout fails the instance with Timeout, uncatchable",
			steps: `- try:
    - wait: never
  catch:
    - set: { caught: true }`,
			extra: "    timeout: 5h\n", script: []string{"fire workflow"}, status: "failed", err: "Timeout", clock: 5 * time.Hour},
		{name: "a signal to a running instance is a task on its queue, once the committer read it",
			steps:  "- signal: go\n  to: other\n  data: { n: 1 }\n- set: { sent: true }",
			others: map[string]string{"other": "running"}, reads: []string{"other"},
			status: "completed", entity: `{"sent":true}`, tasks: []string{"signal"}},
		{name: "a signal to an id no instance holds is kept for it at commit",
			steps:  "- signal: go\n  to: later\n- set: { sent: true }",
			others: map[string]string{"later": "absent"}, reads: []string{"later"},
			status: "completed", entity: `{"sent":true}`, effects: []string{"keep go for later"}},
		{name: "a signal to an ended instance fails the step, which catch sees",
			steps:  "- try:\n    - signal: go\n      to: done\n  catch:\n    - set: { caught: \"${ error.type }\" }",
			others: map[string]string{"done": "completed"}, reads: []string{"done"},
			status: "completed", entity: `{"caught":"SignalUndeliverable"}`},
		{name: "parallel branches needing two instances are read in one pass",
			steps:  "- parallel:\n    - steps: [ { signal: a, to: one } ]\n    - steps: [ { cancel: two } ]",
			others: map[string]string{"one": "running", "two": "running"}, reads: []string{"one", "two"},
			status: "completed", tasks: []string{"cancel", "signal"}},
		{name: "a cancel step of an unknown id fails with CancelError",
			steps: "- cancel: nobody", others: map[string]string{"nobody": "absent"}, reads: []string{"nobody"},
			status: "failed", err: "CancelError"},
		{name: "a child with a default id starts at commit without a read, and its end completes the step",
			steps: "- id: c\n  workflow: kid\n- set: { got: \"${ steps.c }\" }", extra: kid,
			effects: []string{"start i-1.c.1"},
			script:  []string{`child i-1.c.1 completed "ok"`},
			status:  "completed", entity: `{"got":"ok"}`},
		{name: "a child whose id a completed instance holds takes its result",
			steps: "- id: c\n  workflow: kid\n  workflowId: k1\n- set: { got: \"${ steps.c }\" }", extra: kid,
			others: map[string]string{"k1": "completed"}, reads: []string{"k1"},
			status: "completed", entity: `{"got":"result of k1"}`},
		{name: "a child whose id a running instance holds is watched at commit",
			steps: "- workflow: kid\n  workflowId: k1", extra: kid,
			others: map[string]string{"k1": "running"}, reads: []string{"k1"}, effects: []string{"watch k1"},
			status: "running"},
		{name: "a signal to a child started earlier in the transition needs no read",
			steps: "- workflow: kid\n  workflowId: k1\n  await: false\n- signal: go\n  to: k1", extra: kid,
			others: map[string]string{"k1": "absent"}, reads: []string{"k1"}, effects: []string{"start k1"},
			status: "completed", tasks: []string{"signal"}},
		{name: "return ends the workflow with its value",
			steps: "- return: ${ input.n * 2 }\n- set: { never: true }", input: map[string]any{"n": 21},
			status: "completed", result: "42"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, tc.steps, tc.extra, tc.input, tc.others)
			for _, line := range tc.script {
				m.do(line)
			}
			if m.job.Status != tc.status {
				t.Fatalf("status %s, want %s (error %q; history %s)", m.job.Status, tc.status, m.job.Error, m.kinds())
			}
			if tc.entity != "" && string(m.job.Context) != tc.entity {
				t.Errorf("entity %s, want %s", m.job.Context, tc.entity)
			}
			if tc.result != "" && string(m.job.Result) != tc.result {
				t.Errorf("result %s, want %s", m.job.Result, tc.result)
			}
			if got := m.errType(); got != tc.err {
				t.Errorf("error type %q, want %q (%s)", got, tc.err, m.job.Error)
			}
			if got := m.taskNames(); fmt.Sprint(got) != fmt.Sprint(tc.tasks) && !(len(got) == 0 && len(tc.tasks) == 0) {
				t.Errorf("tasks left %v, want %v", got, tc.tasks)
			}
			if !subsequence(tc.hist, m.kinds()) {
				t.Errorf("history %v lacks %v in order", m.kinds(), tc.hist)
			}
			if fmt.Sprint(m.reads) != fmt.Sprint(tc.reads) && !(len(m.reads) == 0 && len(tc.reads) == 0) {
				t.Errorf("instances read %v, want %v", m.reads, tc.reads)
			}
			if fmt.Sprint(m.effects) != fmt.Sprint(tc.effects) && !(len(m.effects) == 0 && len(tc.effects) == 0) {
				t.Errorf("effects %v, want %v", m.effects, tc.effects)
			}
			if got := m.clock.Sub(machineStart); got != tc.clock {
				t.Errorf("virtual time passed %v, want %v", got, tc.clock)
			}
		})
	}
}

func (m *machine) kinds() []string {
	var out []string
	for _, h := range m.hist {
		out = append(out, h.Kind)
	}
	return out
}

// errType is the type of the error the instance failed with, read from its
// last "failed" history row.
func (m *machine) errType() string {
	for i := len(m.hist) - 1; i >= 0; i-- {
		if m.hist[i].Kind != "failed" {
			continue
		}
		var d struct {
			Error struct {
				Type string `json:"type"`
			} `json:"error"`
			Type string `json:"type"`
		}
		_ = json.Unmarshal(m.hist[i].Detail, &d)
		if d.Error.Type != "" {
			return d.Error.Type
		}
		return d.Type
	}
	return ""
}

func subsequence(want, got []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}
