package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGraphMermaid(t *testing.T) {
	for _, f := range []string{"research-agent.yaml", "document-pipeline.yaml"} {
		code, out, errs := execute(t, newGraphCmd(), filepath.Join(examples, f))
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s", f, code, errs)
		}
		for _, want := range []string{"flowchart TD\n", "subgraph h_", "([\"start\"])", "-.->|\"starts\"|"} {
			if !strings.Contains(out, want) {
				t.Fatalf("%s: mermaid lacks %q:\n%s", f, want, out)
			}
		}
	}
	_, out, _ := execute(t, newGraphCmd(), "--workflow", "researchAgent", filepath.Join(examples, "research-agent.yaml"))
	for _, want := range []string{
		`subgraph w_researchAgent["workflow researchAgent"]`,
		`w_researchAgent_1[["parallel ×3"]]`,
		`w_researchAgent_1 ==>|"branch 1"| w_researchAgent_3`,
		`w_researchAgent_3 --> w_researchAgent_1_join`,
		`w_researchAgent_1_join --> w_researchAgent_2`,
		`w_researchAgent_3 -.->|"starts"| h_optimisticPerspective_start`,
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("mermaid lacks %q:\n%s", want, out)
		}
	}
}

func TestGraphDot(t *testing.T) {
	code, out, errs := execute(t, newGraphCmd(), "--format", "dot", filepath.Join(examples, "document-pipeline.yaml"))
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	for _, want := range []string{
		"digraph memflow {",
		"subgraph cluster_w_documentProcessingPipeline {",
		`w_documentProcessingPipeline_4 [label="if len(steps.load ?? []) == 0", shape=diamond];`,
		`w_documentProcessingPipeline_4 -> w_documentProcessingPipeline_13 [label="then"];`,
		`h_approvalHook_1 [label="decision: wait approval (timeout 72h0m0s)", shape=parallelogram];`,
		`w_documentProcessingPipeline_13 [label="fail No image references found", shape=oval];`,
		`w_documentProcessingPipeline_11 [label="merge completedAt, status", shape=box];`,
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("dot lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "{") != strings.Count(out, "}") {
		t.Fatalf("unbalanced braces:\n%s", out)
	}
}

func TestGraphControlFlow(t *testing.T) {
	path := writeFlow(t, `memflow: v1
workflows:
  w:
    entity: doc
    steps:
      - try:
          - while: ${ entity.n < 3 }
            maxIterations: 5
            steps:
              - increment: { n: 1 }
        catch:
          - fail: oops
      - forEach: ${ input.items }
        steps:
          - id: one
            activity: log
`)
	code, out, errs := execute(t, newGraphCmd(), path)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	for _, want := range []string{
		`w_w_0 -->|"try"| w_w_2`,
		`w_w_0 -.->|"catch"| w_w_4`,
		`w_w_2 -->|"loop"| w_w_3`,
		`w_w_3 --> w_w_2`,
		`w_w_2 -.->|"error"| w_w_4`,
		`w_w_1 ==>|"each item"| w_w_5`,
		`w_w_5 --> w_w_1_join`,
		`w_w_4 --> w_w_end`,
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("mermaid lacks %q:\n%s", want, out)
		}
	}
}

func TestGraphErrors(t *testing.T) {
	ex := filepath.Join(examples, "research-agent.yaml")
	if code, _, _ := execute(t, newGraphCmd(), "--format", "png", ex); code != 2 {
		t.Fatalf("bad format: exit %d, want 2", code)
	}
	if code, _, _ := execute(t, newGraphCmd(), "--workflow", "nope", ex); code != 2 {
		t.Fatalf("unknown workflow: exit %d, want 2", code)
	}
	if code, _, _ := execute(t, newGraphCmd()); code != 2 {
		t.Fatalf("no file: exit %d, want 2", code)
	}
	code, _, errs := execute(t, newGraphCmd(), writeFlow(t, badFlow))
	if code != 1 || !strings.Contains(errs, `unknown step "nope"`) {
		t.Fatalf("invalid flow: exit %d\n%s", code, errs)
	}
}

// A flow whose condition compares: the graph shows it as written.
func TestGraphShowsComparisonsAsWritten(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "cmp.yaml")
	os.WriteFile(f, []byte("memflow: v1\nworkflows:\n  cmp:\n    entity: e\n    input: { type: object, properties: { amount: { type: number } } }\n    steps:\n      - if: ${ input.amount > 100 && input.amount < 1000 }\n        then: [ { merge: { big: true } } ]\n"), 0o644)
	code, out, errs := execute(t, newGraphCmd(), f)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "input.amount > 100 && input.amount < 1000") || strings.Contains(out, "#gt;") {
		t.Errorf("condition not shown as written:\n%s", out)
	}
}
