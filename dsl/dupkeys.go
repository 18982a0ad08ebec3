package dsl

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// duplicateKeys reports every key given twice in one mapping, at any depth
// and in block and flow style alike: YAML would silently keep the last
// value. The second key is the one reported. Keys are compared by their
// text, as the flow's JSON values compare them ("1" and 1 are one key).
// Nodes reached through aliases are visited once, where they are written.
func (f *File) duplicateKeys(root *yaml.Node) Diagnostics {
	var ds Diagnostics
	var walk func(n *yaml.Node, depth int)
	walk = func(n *yaml.Node, depth int) {
		if n == nil || n.Kind == yaml.AliasNode || depth > 1000 {
			return
		}
		if n.Kind == yaml.MappingNode {
			seen := make(map[string]*yaml.Node, len(n.Content)/2)
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				if k.Kind != yaml.ScalarNode {
					continue
				}
				if prev, dup := seen[k.Value]; dup {
					ds = append(ds, Diagnostic{Pos: f.clamp(k.Line, k.Column), Severity: Error,
						Message: fmt.Sprintf("duplicate key %q (first at line %d, column %d): YAML would keep only the last value", k.Value, prev.Line, prev.Column)})
					continue
				}
				seen[k.Value] = k
			}
		}
		for _, c := range n.Content {
			walk(c, depth+1)
		}
	}
	walk(root, 0)
	return ds
}
