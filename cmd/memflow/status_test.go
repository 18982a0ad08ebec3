package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const waitFlows = `memflow: v1
workflows:
  quick:
    entity: doc
    steps:
      - merge: { ok: true }
  approve:
    entity: doc
    steps:
      - id: decision
        wait: approval
        timeout: 1h
      - merge: { by: "${ steps.decision.by }" }
  nap:
    entity: doc
    steps:
      - sleep: 1ms
      - merge: { napped: true }
`

// setup writes the flows and stores them (run of quick loads the file).
// with appends the database flags to a command line.
func setup(t *testing.T, s dbFlags) (flow string, with func(args ...string) []string) {
	t.Helper()
	flow = filepath.Join(t.TempDir(), "w.yaml")
	if err := os.WriteFile(flow, []byte(waitFlows), 0o644); err != nil {
		t.Fatal(err)
	}
	with = func(args ...string) []string { return append(args, s.flags()...) }
	if code, _, errs := cli(t, with("run", flow, "--workflow", "quick", "--quiet")...); code != 0 {
		t.Fatalf("run quick: %d %s", code, errs)
	}
	return flow, with
}

// printed is how printed commands give the database flags.
func (s dbFlags) printed() string {
	out := "--db " + shellQuote(s.db)
	if s.app != "memflow" {
		out += " --app " + shellQuote(s.app)
	}
	return out
}

// background runs the CLI until it returns or the test ends; wait returns
// its exit status and outputs.
func background(t *testing.T, args ...string) (stop func(), wait func() (int, string, string)) {
	stop, wait, _ = backgroundErr(t, args...)
	return stop, wait
}

// backgroundErr is background that also reads what the command has written
// to stderr so far.
func backgroundErr(t *testing.T, args ...string) (stop func(), wait func() (int, string, string), stderr func() string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	var out bytes.Buffer
	errb := &lockedBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, &out, errb) }()
	var code int
	finished := false
	wait = func() (int, string, string) {
		if !finished {
			code, finished = <-done, true
		}
		return code, out.String(), errb.String()
	}
	t.Cleanup(func() { cancel(); wait() })
	return cancel, wait, errb.String
}

// lockedBuffer is a bytes.Buffer safe to read while a command writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// until runs the CLI until its stdout contains want (deadline 30s).
func until(t *testing.T, want string, args ...string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	delay := 10 * time.Millisecond
	for {
		code, out, errs := cli(t, args...)
		if code == 0 && strings.Contains(out, want) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v never printed %q; last: %d %q %s", args, want, code, out, errs)
		}
		time.Sleep(delay) // polling a condition, with a deadline
		delay = min(delay*2, 200*time.Millisecond)
	}
}

// run of a flow that reaches a wait says what it waits for, its timeout and
// the command that sends the signal, with the --db it was given.
func TestRunSaysWhatItWaitsFor(t *testing.T) {
	eachStore(t, func(t *testing.T, s dbFlags) {
		flow, with := setup(t, s)
		_, wait, stderr := backgroundErr(t, with("run", flow, "--workflow", "approve", "--id", "w1")...)
		until(t, `waiting for signal "approval"`, with("status", "w1")...)
		// run reports the wait once the instance is quiet: wait for it
		// before sending the signal that ends the wait.
		deadline := time.Now().Add(30 * time.Second)
		for delay := 10 * time.Millisecond; !strings.Contains(stderr(), "send it with:"); delay = min(delay*2, 200*time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("run never reported its wait:\n%s", stderr())
			}
			time.Sleep(delay) // polling a condition, with a deadline
		}
		if code, _, errs := cli(t, with("signal", "w1", "approval", "--data", `{"by":"ann"}`)...); code != 0 {
			t.Fatalf("signal: %s", errs)
		}
		code, out, errs := wait()
		if code != 0 || !strings.Contains(out, `"by": "ann"`) {
			t.Fatalf("run: exit %d %q %s", code, out, errs)
		}
		for _, want := range []string{
			`⏸ decision: waiting for signal "approval" (times out in 1h0m0s)`,
			"  send it with: memflow signal w1 approval " + s.printed() + " --data '{}'",
		} {
			if !strings.Contains(errs, want) {
				t.Errorf("run's progress lacks %q:\n%s", want, errs)
			}
		}
		if strings.Count(errs, "⏸") != 1 {
			t.Errorf("the wait is reported more than once:\n%s", errs)
		}
	})
}

// run works on its own instance only: an instance of the app started
// elsewhere stays untouched; running an existing id says resumed.
func TestRunWorksOnItsOwnTree(t *testing.T) {
	eachStore(t, func(t *testing.T, s dbFlags) {
		flow, with := setup(t, s)
		code, out, errs := cli(t, with("start", "nap", "--id", "elsewhere")...)
		if code != 0 || strings.TrimSpace(out) != "elsewhere" {
			t.Fatalf("start: %d %q %s", code, out, errs)
		}
		// mine's timer and elsewhere's are both due: a worker serving the app
		// would take both.
		if code, _, errs := cli(t, with("run", flow, "--workflow", "nap", "--id", "mine")...); code != 0 ||
			!strings.Contains(errs, "started nap as mine") {
			t.Fatalf("run: %d %s", code, errs)
		}
		// The run's worker polled for a while; nothing of elsewhere moved.
		code, out, errs = cli(t, with("status", "elsewhere")...)
		if code != 0 || !strings.Contains(out, "running") || !strings.Contains(out, "sleeping until") {
			t.Errorf("status of the other instance after run: %d %q %s", code, out, errs)
		}
		code, out, errs = cli(t, with("run", flow, "--workflow", "nap", "--id", "elsewhere")...)
		if code != 0 || !strings.Contains(errs, "resumed nap as elsewhere") || strings.Contains(errs, "started nap") ||
			!strings.Contains(out, `"napped": true`) {
			t.Errorf("run of an existing id: %d %q %s", code, out, errs)
		}
		code, _, errs = cli(t, with("run", flow, "--workflow", "nap", "--id", "elsewhere")...)
		if code != 0 || !strings.Contains(errs, "nap as elsewhere already completed; nothing to resume") {
			t.Errorf("run of an ended id: %d %s", code, errs)
		}
	})
}

// start and result --wait say on stderr when no worker serves the queue,
// and stop saying it once a worker polls.
func TestStartWarnsWithoutWorker(t *testing.T) {
	eachStore(t, func(t *testing.T, s dbFlags) {
		_, with := setup(t, s)
		warning := `no worker has claimed work for queue "default" in the last 15 s; s1 waits until one runs (start one with: memflow worker ` + s.printed() + ")"
		code, out, errs := cli(t, with("start", "approve", "--id", "s1")...)
		if code != 0 || strings.TrimSpace(out) != "s1" || !strings.Contains(errs, warning) {
			t.Fatalf("start without a worker: %d %q %s", code, out, errs)
		}
		code, _, errs = cli(t, with("result", "s1", "--wait", "--timeout", "50ms")...)
		if code != 1 || !strings.Contains(errs, warning) || !strings.Contains(errs, "still running after 50ms") {
			t.Errorf("result --wait without a worker: %d %s", code, errs)
		}
		stop, wait := background(t, with("worker")...)
		deadline := time.Now().Add(30 * time.Second)
		for n := 0; ; n++ {
			code, _, errs = cli(t, with("status", "s1")...)
			if code != 0 {
				t.Fatalf("status: %s", errs)
			}
			if !strings.Contains(errs, "no worker") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("still warned with a worker running: %s", errs)
			}
			time.Sleep(20 * time.Millisecond) // polling a condition, with a deadline
		}
		if code, _, errs = cli(t, with("start", "approve", "--id", "s2")...); code != 0 || strings.Contains(errs, "no worker") {
			t.Errorf("start with a worker: %d %s", code, errs)
		}
		stop()
		if code, _, errs := wait(); code != 0 {
			t.Errorf("worker: %d %s", code, errs)
		}
	})
}

// ps lists instances newest first without an entity type, filtered and in
// pages; status tells what one waits for; history --follow streams rows
// until the instance ends.
func TestPsStatusAndFollow(t *testing.T) {
	eachStore(t, func(t *testing.T, s dbFlags) {
		_, with := setup(t, s)
		for _, id := range []string{"a", "b", "c"} {
			if code, _, errs := cli(t, with("start", "approve", "--id", id)...); code != 0 {
				t.Fatalf("start %s: %s", id, errs)
			}
		}
		code, out, errs := cli(t, with("ps", "--workflow", "approve", "--limit", "2")...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[1], "c ") || !strings.HasPrefix(lines[2], "b ") ||
			!strings.Contains(lines[1], "running") {
			t.Fatalf("ps page 1: %d %q %s", code, out, errs)
		}
		next := strings.Fields(strings.TrimPrefix(strings.TrimSpace(errs), "next page: memflow "))
		if len(next) < 3 || next[0] != "ps" {
			t.Fatalf("ps gave no next page: %s", errs)
		}
		for i, f := range next { // as a shell would read the quoted URL
			next[i] = strings.Trim(f, "'")
		}
		code, out, errs = cli(t, next...)
		if lines = strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[1], "a ") || errs != "" {
			t.Fatalf("ps page 2 (%v): %d %q %s", next, code, out, errs)
		}
		code, out, _ = cli(t, with("ps", "--status", "completed", "--json")...)
		var page struct {
			Instances []struct{ ID, Workflow, Status string }
			Next      string
		}
		if err := json.Unmarshal([]byte(out), &page); code != 0 || err != nil || len(page.Instances) != 1 ||
			page.Instances[0].Workflow != "quick" || page.Next != "" {
			t.Errorf("ps --status completed --json: %d %s %v", code, out, err)
		}
		if code, _, errs = cli(t, with("ps", "--status", "done")...); code != 2 || !strings.Contains(errs, `--status "done"`) {
			t.Errorf("ps --status done: %d %s", code, errs)
		}
		if code, _, errs = cli(t, with("ps", "--after", "nonsense")...); code != 2 || !strings.Contains(errs, "cursor") {
			t.Errorf("ps --after nonsense: %d %s", code, errs)
		}

		code, out, _ = cli(t, with("status", "a")...)
		if code != 0 || !strings.Contains(out, `a  approve  running`) || !strings.Contains(out, `decision: waiting for signal "approval" (times out in `) ||
			!strings.Contains(out, "send it with: memflow signal a approval "+s.printed()) {
			t.Errorf("status a: %d %s", code, out)
		}
		if code, _, errs = cli(t, with("status", "zzz")...); code != 1 || !strings.Contains(errs, "not found") {
			t.Errorf("status of a missing id: %d %s", code, errs)
		}

		_, follow := background(t, with("history", "a", "--follow")...)
		background(t, with("worker")...)
		if code, _, errs := cli(t, with("signal", "a", "approval", "--data", `{"by":"bo"}`)...); code != 0 {
			t.Fatal(errs)
		}
		code, out, errs = follow()
		rows := strings.Split(strings.TrimSpace(out), "\n")
		var last struct{ Kind string }
		if code != 0 || len(rows) < 4 || json.Unmarshal([]byte(rows[len(rows)-1]), &last) != nil || last.Kind != "completed" {
			t.Fatalf("history --follow: %d %q %s", code, out, errs)
		}
		_, all, _ := cli(t, with("history", "a")...)
		var evs []json.RawMessage
		if err := json.Unmarshal([]byte(all), &evs); err != nil || len(evs) != len(rows) {
			t.Errorf("history --follow printed %d rows, history has %d (%v)", len(rows), len(evs), err)
		}
		code, out, _ = cli(t, with("status", "a")...)
		if code != 0 || !strings.Contains(out, "a  approve  completed") || !strings.Contains(out, `result: {"by": "bo"}`) && !strings.Contains(out, `result: {"by":"bo"}`) {
			t.Errorf("status of the completed instance: %d %s", code, out)
		}
	})
}
