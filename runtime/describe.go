package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/internal/store"
)

// This file answers "what is this instance doing now?" for people: it reads
// the instance's row and pending tasks without a lock and changes nothing.

// What a thread is doing (ThreadStatus.Doing).
const (
	DoingRun      = "run"      // runnable: its step runs when a worker takes the instance's next task
	DoingActivity = "activity" // an activity attempt runs, or waits for its retry
	DoingSignal   = "signal"   // waits for a signal
	DoingSleep    = "sleep"    // sleeps until a time
	DoingHooks    = "hooks"    // waits for hooks it started
	DoingChild    = "child"    // waits for a child workflow
	DoingJoin     = "join"     // waits for the branches of a parallel or forEach step
	DoingEnd      = "end"      // the main thread ended; the instance waits for its hooks
)

// maxDescribedChildren bounds the child instances Describe reads to find
// the one a thread waits for.
const maxDescribedChildren = 50

// Status is what an instance is doing: for a running instance, each live
// thread (main first, then hooks and branches in creation order); for an
// ended one, its outcome.
type Status struct {
	ID       string          `json:"id"`
	Workflow string          `json:"workflow"`
	Status   string          `json:"status"` // running, completed, failed, cancelled
	Root     string          `json:"root"`   // the instance at the top of its tree (itself for a top-level start)
	Queue    string          `json:"queue"`  // the instance's task queue
	Result   json.RawMessage `json:"result,omitempty"`
	Error    string          `json:"error,omitempty"`
	Started  time.Time       `json:"started"`
	Ended    *time.Time      `json:"ended,omitempty"`
	// Deadline is when the workflow's timeout fails it (nil: none).
	Deadline *time.Time     `json:"deadline,omitempty"`
	Threads  []ThreadStatus `json:"threads,omitempty"`
	// Kept lists signals received before any step waited for them.
	Kept []string `json:"kept,omitempty"`
	// Tasks are the instance's pending tasks, oldest due first: what a
	// worker still has to do for it (signals sent, activities, timers).
	Tasks []TaskStatus `json:"tasks,omitempty"`
}

// ThreadStatus is one live thread of a running instance.
type ThreadStatus struct {
	Thread string `json:"thread"`           // "main", else t<n>
	Kind   string `json:"kind"`             // main, hook or branch
	Hook   string `json:"hook,omitempty"`   // the hook it runs ("" the workflow's own steps)
	Step   string `json:"step,omitempty"`   // the step it is at: its label, as history rows name it
	StepID string `json:"stepId,omitempty"` // that step's id, when the flow gave it one
	Desc   string `json:"desc,omitempty"`   // what that step does
	Tick   int64  `json:"tick"`             // changes each time the thread enters a step
	Doing  string `json:"doing"`            // Doing* constant
	// Signal is the signal waited for (DoingSignal).
	Signal string `json:"signal,omitempty"`
	// Until is when a sleep ends (DoingSleep), when a wait times out
	// (DoingSignal; nil: never) or when a failed activity is retried.
	Until *time.Time `json:"until,omitempty"`
	// Activity and Attempt name the activity and its attempt (1 first);
	// Attempting says an attempt holds a worker's lease now.
	Activity   string `json:"activity,omitempty"`
	Attempt    int    `json:"attempt,omitempty"`
	Attempting bool   `json:"attempting,omitempty"`
	// Hooks are the hooks waited for (DoingHooks, DoingEnd; DoingSignal of
	// a hook step with signal:), Children the child instances (DoingChild;
	// empty when it cannot be told), Branches how many branches still run
	// (DoingJoin).
	Hooks    []string `json:"hooks,omitempty"`
	Children []string `json:"children,omitempty"`
	Branches int      `json:"branches,omitempty"`
}

// TaskStatus is one pending task of an instance.
type TaskStatus struct {
	Kind   string    `json:"kind"` // run, activity, timer, signal, hook, child, cancel
	Queue  string    `json:"queue"`
	Due    time.Time `json:"due"`
	Name   string    `json:"name,omitempty"` // the signal or hook
	Leased bool      `json:"leased,omitempty"`
}

// Describe tells what instance id is doing now (ErrNotFound when there is
// none). It reads the row, the pending tasks and, for a thread waiting for
// a child, up to maxDescribedChildren children, each in its own statement:
// the parts may be a moment apart while the instance moves.
func (e *Engine) Describe(ctx context.Context, id string) (*Status, error) {
	job, err := e.st.GetJob(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("status of %q: %w", id, err)
	}
	st := &Status{ID: job.ID, Workflow: job.Flow, Status: job.Status, Root: job.Root, Queue: job.TaskQueue,
		Error: job.Error, Started: job.CreatedAt, Ended: job.CompletedAt}
	if job.Status != store.StatusRunning {
		st.Result = job.Result
		return st, nil
	}
	in, err := decodeInstance(job.State)
	if err != nil {
		return nil, fmt.Errorf("status of %q: %w", id, err)
	}
	tasks, err := e.st.JobTasks(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("status of %q: %w", id, err)
	}
	// Without its program (a version no longer stored) the steps show by
	// number; everything else still holds.
	prog, _ := e.res.pinned(ctx, job.Flow, job.Version)
	children := map[string][]string{} // thread@tick -> the children it awaits
	for _, t := range in.Threads {
		if t.Wait == waitChild {
			children, err = e.awaitedChildren(ctx, in)
			if err != nil {
				return nil, fmt.Errorf("status of %q: %w", id, err)
			}
			break
		}
	}
	describeInstance(st, in, prog, tasks, children, e.now())
	return st, nil
}

// awaitedChildren reads the newest children the instance started and
// awaits, by the thread@tick of the step awaiting each.
func (e *Engine) awaitedChildren(ctx context.Context, in *instance) (map[string][]string, error) {
	out := map[string][]string{}
	n := 0
	for i := len(in.Children) - 1; i >= 0 && n < maxDescribedChildren; i-- {
		c := in.Children[i]
		if c.Detached {
			continue
		}
		n++
		j, err := e.st.GetJob(ctx, c.ID)
		if err != nil {
			if isNotFound(err) {
				continue
			}
			return nil, err
		}
		if j.Status != store.StatusRunning {
			continue
		}
		ci, err := decodeInstance(j.State)
		if err != nil || ci.Parent == nil {
			continue
		}
		k := ci.Parent.Thread + "@" + strconv.FormatInt(ci.Parent.Tick, 10)
		out[k] = append([]string{c.ID}, out[k]...)
	}
	return out, nil
}

// describeInstance fills st's threads, kept signals and tasks from the
// decoded state; prog may be nil.
func describeInstance(st *Status, in *instance, prog *program, tasks []store.Task, children map[string][]string, now time.Time) {
	type key struct {
		thread string
		tick   int64
	}
	timers := map[key]store.Task{}
	acts := map[key]struct {
		task store.Task
		p    payload
	}{}
	for _, t := range tasks {
		var p payload
		_ = json.Unmarshal(t.Payload, &p) // a payload of another shape only loses detail
		ts := TaskStatus{Kind: t.Kind, Queue: t.Queue, Due: t.DueAt, Leased: t.LeaseUntil.After(now)}
		if t.Kind == taskSignal || t.Kind == taskHook {
			ts.Name = p.Name
		}
		st.Tasks = append(st.Tasks, ts)
		switch t.Kind {
		case taskTimer:
			if p.Timer == timerWorkflow {
				d := t.DueAt
				st.Deadline = &d
			} else {
				timers[key{p.Thread, p.Tick}] = t
			}
		case taskActivity:
			acts[key{p.Thread, p.Tick}] = struct {
				task store.Task
				p    payload
			}{t, p}
		}
	}
	for name, sigs := range in.Signals {
		for range sigs {
			st.Kept = append(st.Kept, name)
		}
	}
	sort.Strings(st.Kept)
	threads := in.threadsByNum()
	for _, t := range threads {
		ts := ThreadStatus{Thread: t.ID, Kind: t.Kind, Hook: t.Graph, Tick: t.Tick, Doing: t.Wait}
		if s := stateOf(prog, t); s != nil {
			ts.Step, ts.StepID, ts.Desc = s.Label, s.ID, prog.descs[s]
			if s.Kind == compiler.KActivity {
				ts.Activity = s.Activity
			}
		} else if t.State >= 0 {
			ts.Step = "state " + strconv.Itoa(t.State)
		}
		k := key{t.ID, t.Tick}
		switch t.Wait {
		case "":
			ts.Doing = DoingRun
		case waitActivity:
			ts.Doing = DoingActivity
			if a, ok := acts[k]; ok {
				ts.Attempt = a.p.Attempt + a.task.Attempts
				ts.Attempting = a.task.LeaseUntil.After(now)
				if !ts.Attempting {
					ts.Attempt++
					if a.task.DueAt.After(now) {
						d := a.task.DueAt
						ts.Until = &d
					}
				}
			}
		case waitSignal:
			ts.Doing, ts.Signal = DoingSignal, t.Signal
			if tm, ok := timers[k]; ok {
				d := tm.DueAt
				ts.Until = &d
			}
			ts.Hooks = hooksOf(threads, func(h *thread) bool { return h.Notify == t.ID && h.NotifyTick == t.Tick })
		case waitSleep:
			ts.Doing = DoingSleep
			if tm, ok := timers[k]; ok {
				d := tm.DueAt
				ts.Until = &d
			}
		case waitHook:
			ts.Doing = DoingHooks
			ts.Hooks = hooksOf(threads, func(h *thread) bool { return h.Parent == t.ID })
		case waitChild:
			ts.Doing = DoingChild
			ts.Children = children[t.ID+"@"+strconv.FormatInt(t.Tick, 10)]
		case waitJoin:
			ts.Doing = DoingJoin
			if t.Join != nil {
				ts.Branches = t.Join.Running
			}
		case waitEnd:
			ts.Doing, ts.Step, ts.StepID, ts.Desc = DoingEnd, "", "", ""
			ts.Hooks = hooksOf(threads, func(h *thread) bool { return true })
		}
		st.Threads = append(st.Threads, ts)
	}
}

// hooksOf names the hook threads that match, in creation order.
func hooksOf(threads []*thread, match func(*thread) bool) []string {
	var out []string
	for _, h := range threads {
		if h.Kind == threadHook && match(h) {
			out = append(out, h.Graph)
		}
	}
	return out
}

func stateOf(p *program, t *thread) *compiler.State {
	if p == nil {
		return nil
	}
	g := p.Workflow
	if t.Graph != "" {
		g = p.Hooks[t.Graph]
	}
	if g == nil || t.State < 0 || t.State >= len(g.States) {
		return nil
	}
	return g.States[t.State]
}

// Line says what the thread does in one line, times relative to now:
// `step approve: waiting for signal "approval" (times out in 59m58s)`.
func (t ThreadStatus) Line(now time.Time) string {
	var b strings.Builder
	if t.Hook != "" {
		b.WriteString("hook " + t.Hook + " › ")
	}
	// The step by its id, else by what it does (generated labels such as
	// step-3 mean nothing to the reader).
	switch {
	case t.StepID != "":
		b.WriteString(t.StepID + ": ")
	case t.Desc != "":
		b.WriteString(t.Desc + ": ")
	case t.Step != "":
		b.WriteString(t.Step + ": ")
	}
	switch t.Doing {
	case DoingRun:
		b.WriteString("running (the next worker to take the instance runs this step)")
	case DoingActivity:
		fmt.Fprintf(&b, "activity %s", t.Activity)
		switch {
		case t.Attempting:
			fmt.Fprintf(&b, ", attempt %d running", t.Attempt)
		case t.Until != nil:
			fmt.Fprintf(&b, ", attempt %d %s", t.Attempt, in("due", *t.Until, now))
		case t.Attempt > 0:
			fmt.Fprintf(&b, ", attempt %d waiting for a worker", t.Attempt)
		}
	case DoingSignal:
		fmt.Fprintf(&b, "waiting for signal %q", t.Signal)
		if t.Until != nil {
			fmt.Fprintf(&b, " (times out %s)", in("", *t.Until, now))
		} else {
			b.WriteString(" (no timeout)")
		}
		if len(t.Hooks) > 0 {
			fmt.Fprintf(&b, " from hook %s", strings.Join(t.Hooks, ", "))
		}
	case DoingSleep:
		b.WriteString("sleeping")
		if t.Until != nil {
			fmt.Fprintf(&b, " until %s (%s)", stamp(*t.Until), in("", *t.Until, now))
		}
	case DoingHooks:
		fmt.Fprintf(&b, "waiting for hook %s", strings.Join(t.Hooks, ", "))
	case DoingChild:
		if len(t.Children) > 0 {
			fmt.Fprintf(&b, "waiting for child workflow %s", strings.Join(t.Children, ", "))
		} else {
			b.WriteString("waiting for a child workflow")
		}
	case DoingJoin:
		fmt.Fprintf(&b, "waiting for %d branch(es)", t.Branches)
	case DoingEnd:
		fmt.Fprintf(&b, "workflow steps done; waiting for hook %s to end", strings.Join(t.Hooks, ", "))
	default:
		b.WriteString(t.Doing)
	}
	return b.String()
}

// in renders a time relative to now: "in 5m0s", or "overdue by 3s" when it
// passed (a worker handles it when one runs).
func in(what string, at, now time.Time) string {
	if what != "" {
		what += " "
	}
	d := at.Sub(now).Round(time.Second)
	if d < 0 {
		return fmt.Sprintf("%soverdue by %s", what, -d)
	}
	return fmt.Sprintf("%sin %s", what, d)
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
