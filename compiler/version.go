package compiler

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
)

// A version names what a workflow runs: its own graph, the hooks it can
// start (directly or through those hooks), its entity's schema and indexes,
// and the programs of the children it can start, transitively. Source
// positions and the file name stay in the stored program for error messages
// but are left out of the hash, so comments, whitespace, moving a workflow
// to another file and edits to other workflows or to hooks it never starts
// keep its version.

// versions sets Version on every program of progs (by workflow name).
func versions(progs map[string]*Program) error {
	own := map[string][]byte{}
	names := make([]string, 0, len(progs))
	for name, p := range progs {
		h, err := ownHash(p)
		if err != nil {
			return err
		}
		own[name] = h
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := progs[name]
		sum := sha256.New()
		sum.Write(own[name])
		// Children reachable from this workflow, in name order, each by its
		// own hash; a cycle (a workflow that may start itself) is hashed once.
		seen := map[string]bool{name: true}
		queue := startedChildren(p)
		var reach []string
		for len(queue) > 0 {
			ch := queue[0]
			queue = queue[1:]
			if seen[ch] {
				continue
			}
			seen[ch] = true
			reach = append(reach, ch)
			if cp := progs[ch]; cp != nil {
				queue = append(queue, startedChildren(cp)...)
			}
		}
		sort.Strings(reach)
		for _, ch := range reach {
			sum.Write([]byte("\x00child\x00" + ch + "\x00"))
			sum.Write(own[ch])
		}
		p.Version = hex.EncodeToString(sum.Sum(nil)[:16])
	}
	return nil
}

// usedHooks lists the hooks p's workflow can start, directly or through
// other hooks.
func usedHooks(p *Program) []string {
	seen := map[string]bool{}
	var out []string
	var walk func(g *Graph)
	walk = func(g *Graph) {
		if g == nil {
			return
		}
		for _, s := range g.States {
			if s.Hook == "" || seen[s.Hook] {
				continue
			}
			seen[s.Hook] = true
			out = append(out, s.Hook)
			walk(p.Hooks[s.Hook])
		}
	}
	walk(p.Workflow)
	sort.Strings(out)
	return out
}

// startedChildren lists the workflows p's workflow and the hooks it uses
// can start as children.
func startedChildren(p *Program) []string {
	var out []string
	add := func(g *Graph) {
		if g == nil {
			return
		}
		for _, s := range g.States {
			if s.Kind == KChild && s.Workflow != "" {
				out = append(out, s.Workflow)
			}
		}
	}
	add(p.Workflow)
	for _, h := range usedHooks(p) {
		add(p.Hooks[h])
	}
	sort.Strings(out)
	return out
}

// ownHash hashes p's own program without positions, its file, its version
// and the hooks it never starts.
func ownHash(p *Program) ([]byte, error) {
	q := *p
	q.Version = ""
	q.File = ""
	q.Children = nil
	used := usedHooks(p)
	q.Hooks = make(map[string]*Graph, len(used))
	for _, h := range used {
		q.Hooks[h] = p.Hooks[h]
	}
	b, err := json.Marshal(&q)
	if err != nil {
		return nil, fmt.Errorf("encode program %q: %w", p.Name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("encode program %q: %w", p.Name, err)
	}
	b, err = json.Marshal(stripPositions(v))
	if err != nil {
		return nil, fmt.Errorf("encode program %q: %w", p.Name, err)
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}

// stripPositions removes the "pos" and "positions" fields of the program's
// JSON. User data (template values and JSON Schemas) is kept as written.
func stripPositions(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			switch k {
			case "pos", "positions":
				delete(v, k)
			case "raw", "input", "entitySchema":
				// user data: keep as is
			case "hooks":
				// keyed by hook name, which may be any word
				if m, ok := x.(map[string]any); ok {
					for h, g := range m {
						m[h] = stripPositions(g)
					}
				}
			default:
				v[k] = stripPositions(x)
			}
		}
	case []any:
		for i, x := range v {
			v[i] = stripPositions(x)
		}
	}
	return v
}
