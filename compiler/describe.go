package compiler

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Describe says in a few words what state s does, for people: its step id,
// the action and its main argument ("view: activity research.perspective",
// "merge perspectives", "wait approval (timeout 1h0m0s)"), and its `when`
// guard. The text is at most 80 characters; `memflow graph` labels its
// nodes with it and the runtime records it in the history of each step.
func (s *State) Describe() string {
	var what string
	switch s.Kind {
	case KCommand:
		ops := make([]string, len(s.Commands))
		for i, c := range s.Commands {
			ops[i] = c.Op
			switch {
			case c.Path != nil:
				ops[i] += " " + fmt.Sprint(c.Path.Raw)
			case c.Value != nil:
				if m, ok := c.Value.Raw.(map[string]any); ok {
					ops[i] += " " + strings.Join(slices.Sorted(maps.Keys(m)), ", ")
				}
			}
		}
		what = strings.Join(ops, ", ")
	case KActivity:
		what = "activity " + s.Activity
	case KHook:
		what = "hook " + s.Hook
		if s.Await != nil && !*s.Await {
			what += " (no wait)"
		}
	case KParallel:
		what = fmt.Sprintf("parallel ×%d", len(s.Branches))
	case KForEach:
		what = "forEach " + s.Items.Src
		if s.Hook != "" {
			what += " → hook " + s.Hook
		}
	case KWait:
		what = "wait " + fmt.Sprint(s.Signal.Raw)
		if s.TimeoutMS > 0 {
			what += fmt.Sprintf(" (timeout %s)", time.Duration(s.TimeoutMS)*time.Millisecond)
		}
	case KSignal:
		what = "signal " + fmt.Sprint(s.Signal.Raw)
	case KCancel:
		if s.Hook != "" {
			what = "cancel hook " + s.Hook
		} else {
			what = "cancel " + fmt.Sprint(s.To.Raw)
		}
	case KSleep:
		switch {
		case s.Until != nil:
			what = "sleep until " + fmt.Sprint(s.Until.Raw)
		case s.Duration != nil:
			what = "sleep " + fmt.Sprint(s.Duration.Raw)
		default:
			what = fmt.Sprintf("sleep %dms", s.DurationMS)
		}
	case KChild:
		what = "workflow " + s.Workflow
	case KIf, KWhile:
		what = string(s.Kind) + " " + s.Cond.Src
	case KSwitch:
		what = "switch"
	case KTry:
		what = "try"
	case KReturn, KFail:
		what = string(s.Kind)
		if s.Value != nil {
			what += " " + fmt.Sprint(s.Value.Raw)
		}
	}
	if s.ID != "" {
		what = s.ID + ": " + what
	}
	if s.When != nil {
		what += " [when " + s.When.Src + "]"
	}
	if r := []rune(what); len(r) > 80 {
		what = string(r[:77]) + "..."
	}
	return what
}
