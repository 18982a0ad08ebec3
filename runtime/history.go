package runtime

import "github.com/memflow/memflow/compiler"

// placed adds to an event's detail where the event happened, for people
// reading the history (`memflow run` prints it as progress): "hook", the
// hook a thread runs, and "desc", what the step does (State.Describe). The
// other keys of the detail are unchanged.
func (x *txn) placed(t *thread, s *compiler.State, detail any) any {
	var hook, desc string
	if t != nil {
		hook = t.Graph
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
