package graph

import (
	"bytes"
	"encoding/xml"
	"io"
	"testing"

	"github.com/memflow/memflow/compiler"
)

// The SVG is well-formed XML with one node per state carrying the state's
// label, plus start and end, and every edge between drawn nodes.
func TestSVG(t *testing.T) {
	cat, ds := compiler.Load([]string{"../../flows/examples"}, compiler.Options{LaxActivities: true})
	if cat == nil {
		t.Fatalf("examples do not load: %v", ds)
	}
	for name, prog := range cat.Programs {
		pic := New()
		pic.Add(prog.Workflow)
		var b bytes.Buffer
		if err := pic.SVG(&b); err != nil {
			t.Fatal(err)
		}
		steps := map[string]bool{}
		nodes := 0
		d := xml.NewDecoder(&b)
		for {
			tok, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: not well-formed: %v", name, err)
			}
			if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "g" {
				nodes++
				for _, a := range se.Attr {
					if a.Name.Local == "data-step" && a.Value != "" {
						steps[a.Value] = true
					}
				}
			}
		}
		for _, s := range prog.Workflow.States {
			if !steps[s.Label] {
				t.Errorf("%s: no node for state %q", name, s.Label)
			}
		}
		if nodes < len(prog.Workflow.States)+2 {
			t.Errorf("%s: %d nodes for %d states", name, nodes, len(prog.Workflow.States))
		}
	}
}
