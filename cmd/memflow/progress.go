package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/memflow/memflow"
)

// eventDetail is what the progress printer reads from a history row's
// detail; the runtime adds "hook" and "desc" to the rows of steps.
type eventDetail struct {
	Workflow string          `json:"workflow"` // started
	Hook     string          `json:"hook"`     // the hook the thread runs
	Desc     string          `json:"desc"`     // what the step does
	Output   json.RawMessage `json:"output"`   // step
	Result   json.RawMessage `json:"result"`   // completed
	Message  string          `json:"message"`  // error, failed, hook-failed
	Type     string          `json:"type"`     // error
	In       string          `json:"in"`       // retry: the delay
	Error    *struct {
		Message string `json:"message"`
	} `json:"error"` // retry
	Name string `json:"name"` // signal-kept
}

// maxShown bounds a value shown on a progress line, in characters.
const maxShown = 72

// progressLine renders one history event for a person watching a run:
// the time since the workflow started, then where it happened (the hook,
// and what the step does) and what came of it.
func progressLine(ev memflow.Event, start time.Time) string {
	var d eventDetail
	_ = json.Unmarshal(ev.Detail, &d) // a detail of another shape shows as its kind
	what := d.Desc
	if what == "" {
		what = ev.Step
	}
	if d.Hook != "" && what != "" {
		what = d.Hook + " › " + what
	}
	var line string
	switch ev.Kind {
	case "started":
		line = "→ " + d.Workflow + " started"
	case "step":
		line = what
		if shown := brief(d.Output); shown != "" {
			line += " -> " + shown
		}
	case "skipped":
		line = what + " (skipped)"
	case "retry":
		msg := ""
		if d.Error != nil {
			msg = ": " + d.Error.Message
		}
		line = fmt.Sprintf("↻ %s failed%s; retrying in %s", what, msg, d.In)
	case "error":
		line = fmt.Sprintf("✗ %s: %s", what, d.Message)
	case "hook-started":
		line = "→ hook " + d.Hook + " started"
	case "hook-completed":
		line = "✓ hook " + d.Hook + " completed"
	case "hook-failed":
		line = "✗ hook " + d.Hook + " failed: " + d.Message
	case "completed":
		line = "✓ completed in " + ev.At.Sub(start).Round(time.Millisecond).String()
	case "signal-kept":
		line = "signal " + d.Name + " received, kept until a step waits for it"
	default:
		line = "✗ " + ev.Kind
		if d.Message != "" {
			line += ": " + d.Message
		}
	}
	return fmt.Sprintf("%8.3fs  %s", ev.At.Sub(start).Seconds(), line)
}

// brief shows a JSON value on one line, cut to maxShown characters; ""
// for no value or null.
func brief(v json.RawMessage) string {
	s := string(v)
	if s == "" || s == "null" {
		return ""
	}
	if r := []rune(s); len(r) > maxShown {
		s = string(r[:maxShown-1]) + "…"
	}
	return s
}

// waitLines reports the waits of st that told does not hold yet (and adds
// them): a wait for a signal with its timeout and the command that sends
// it, a sleep with its end. Other waits (activities, hooks, children) are
// worked on by the run itself and show in its progress.
func waitLines(st *memflow.Status, told map[string]bool, signalCmd func(id, name string) string, now time.Time) []string {
	var out []string
	for _, t := range st.Threads {
		if t.Doing != memflow.DoingSignal && t.Doing != memflow.DoingSleep {
			continue
		}
		key := fmt.Sprintf("%s@%d", t.Thread, t.Tick)
		if told[key] || t.Doing == memflow.DoingSleep && (t.Until == nil || t.Until.Sub(now) < time.Second) {
			continue // a short sleep shows when it ends
		}
		told[key] = true
		out = append(out, "⏸ "+t.Line(now))
		if t.Doing == memflow.DoingSignal {
			out = append(out, "  send it with: "+signalCmd(st.ID, t.Signal)+" --data '{}'   (the data is what the wait step returns)")
		}
	}
	return out
}
