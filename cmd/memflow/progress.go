package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/memflow/memflow"
)

// eventDetail is what the progress printer reads from a history row's
// detail; the runtime adds "hook", "desc", "did", "branch" and "branches"
// to the rows of steps.
type eventDetail struct {
	Workflow string          `json:"workflow"` // started
	Hook     string          `json:"hook"`     // the hook the thread runs
	Desc     string          `json:"desc"`     // what the step does
	Did      string          `json:"did"`      // Desc with its templated paths rendered
	Branch   int             `json:"branch"`   // on a branch of a fan-out: its place, from 1
	Branches int             `json:"branches"` // and how many branches there are
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
// and what the step did, its templated paths rendered), what came of it,
// and on a branch of a parallel or forEach step its counter (3/300).
func progressLine(ev memflow.Event, start time.Time) string {
	var d eventDetail
	_ = json.Unmarshal(ev.Detail, &d) // a detail of another shape shows as its kind
	what := d.Desc
	if d.Did != "" {
		what = d.Did // "increment byName.ana", not "increment byName.${ item }"
	}
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
		if awaits(ev.Step, d.Desc) {
			line += " done" // the branches, hook or child it waited for ended
		}
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
	if d.Branches > 0 {
		line += fmt.Sprintf(" (%d/%d)", d.Branch, d.Branches)
	}
	return fmt.Sprintf("%8.3fs  %s", ev.At.Sub(start).Seconds(), line)
}

// awaits reports whether a step row with this label and description ends
// a wait for other threads or instances (parallel, forEach, an awaited hook
// or child): its row comes after theirs.
func awaits(label, desc string) bool {
	what := strings.TrimPrefix(desc, label+": ")
	for _, p := range []string{"parallel ×", "forEach ", "hook ", "workflow "} {
		if strings.HasPrefix(what, p) {
			return !strings.HasSuffix(what, "(no wait)")
		}
	}
	return false
}

// brief shows a JSON value on one line, cut to maxShown characters; ""
// for no value, null, or a list of nulls only (the output of a fan-out
// whose branches return nothing).
func brief(v json.RawMessage) string {
	s := string(v)
	if s == "" || s == "null" || allNull(v) {
		return ""
	}
	if r := []rune(s); len(r) > maxShown {
		s = string(r[:maxShown-1]) + "…"
	}
	return s
}

// allNull reports whether v is a non-empty list of nulls only.
func allNull(v json.RawMessage) bool {
	var list []json.RawMessage
	if json.Unmarshal(v, &list) != nil || len(list) == 0 {
		return false
	}
	for _, e := range list {
		if !bytes.Equal(bytes.TrimSpace(e), []byte("null")) {
			return false
		}
	}
	return true
}

// progressPrinter prints a run's history events as progress lines. On a
// terminal, consecutive rows of the branches of one fan-out fold into one
// line rewritten in place, its counter moving (a forEach of 300 items is
// one line, not 300); into a pipe or a file every row is a line of its own.
// An awaited hook step's row right after that hook's "completed" row, with
// no result to add, is left out: it would read as the same news twice.
type progressPrinter struct {
	w        io.Writer
	tty      bool
	open     bool   // a folded line is shown without its newline
	foldKey  string // the fan-out the open line belongs to
	lastHook string // the hook of the row printed last, when it was hook-completed
}

func newProgressPrinter(w io.Writer) *progressPrinter {
	return &progressPrinter{w: w, tty: isTerminal(w)} // bench.go
}

// print prints one event.
func (p *progressPrinter) print(ev memflow.Event, start time.Time) {
	var d eventDetail
	_ = json.Unmarshal(ev.Detail, &d)
	lastHook := p.lastHook
	p.lastHook = ""
	if ev.Kind == "hook-completed" {
		p.lastHook = d.Hook
	}
	if ev.Kind == "step" && lastHook != "" && brief(d.Output) == "" &&
		strings.TrimPrefix(d.Desc, ev.Step+": ") == "hook "+lastHook {
		return // "hook X done" right after "✓ hook X completed"
	}
	line := progressLine(ev, start)
	key := ""
	if p.tty && d.Branches > 0 && ev.Kind == "step" {
		key = fmt.Sprintf("%s/%d", d.Hook, d.Branches)
	}
	switch {
	case key != "" && p.open && key == p.foldKey:
		fmt.Fprint(p.w, "\r\033[K"+line) // the same fan-out: rewrite the line
	case key != "":
		p.end()
		fmt.Fprint(p.w, line)
		p.open, p.foldKey = true, key
	default:
		p.end()
		fmt.Fprintln(p.w, line)
	}
}

// end finishes a folded line; call it before anything else writes to the
// same output, and when the run ends.
func (p *progressPrinter) end() {
	if p.open {
		fmt.Fprintln(p.w)
		p.open, p.foldKey = false, ""
	}
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
