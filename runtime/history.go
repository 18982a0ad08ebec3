package runtime

import "github.com/memflow/memflow/compiler"

// placed adds to an event's detail where the event happened, for people
// reading the history (`memflow run` prints it as progress): "hook", the
// hook a thread runs, "desc", what the step does (State.Describe), and on
// a thread that is one branch of a parallel or forEach step, "branch" (its
// place, from 1) and "branches" (how many). The other keys of the detail
// are unchanged.
func (x *txn) placed(t *thread, s *compiler.State, detail any) any {
	var hook, desc string
	var branch, branches int
	if t != nil {
		hook = t.Graph
		if p := x.in.Threads[t.Parent]; t.Parent != "" && t.Slot >= 0 && p != nil && p.Join != nil {
			branch, branches = t.Slot+1, len(p.Join.Results)
		}
	}
	if s != nil {
		desc = x.prog.descs[s]
	}
	if hook == "" && desc == "" {
		return detail
	}
	switch d := detail.(type) {
	case map[string]any:
		if _, ok := d["hook"]; !ok && hook != "" {
			d["hook"] = hook
		}
		if _, ok := d["desc"]; !ok && desc != "" {
			d["desc"] = desc
		}
		if _, ok := d["branch"]; !ok && branches > 0 {
			d["branch"], d["branches"] = branch, branches
		}
		return d
	case *stepError:
		return struct {
			*stepError
			Hook string `json:"hook,omitempty"`
			Desc string `json:"desc,omitempty"`
		}{d, hook, desc}
	}
	return detail
}
