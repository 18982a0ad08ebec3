package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
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

// decodeMermaidLabel reads a quoted flowchart label the way Mermaid does:
// the text between the quotes (which holds no '"'), then each entity code
// #name; or #digits; (decimal) replaced by its character; what is left is
// shown as HTML, so a '<' before a letter, '/', '!' or '?' would open a tag
// and an '&name;' would be a character reference.
func decodeMermaidLabel(t *testing.T, q string) string {
	t.Helper()
	if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' || strings.Contains(q[1:len(q)-1], `"`) {
		t.Fatalf("%s is not one quoted Mermaid label", q)
	}
	named := map[string]string{"quot": `"`, "lt": "<", "gt": ">", "amp": "&"}
	text := regexp.MustCompile(`#\w+;`).ReplaceAllStringFunc(q[1:len(q)-1], func(m string) string {
		name := m[1 : len(m)-1]
		if n, err := strconv.Atoi(name); err == nil {
			return "\x00" + string(rune(n)) // decoded characters are not HTML
		}
		if c, ok := named[name]; ok {
			return "\x00" + c
		}
		return m
	})
	for i := 0; i < len(text); i++ {
		if text[i] == 0 {
			i++
			continue
		}
		rest := text[i:]
		if text[i] == '<' && regexp.MustCompile(`^<[a-zA-Z/!?]`).MatchString(rest) {
			t.Errorf("%s: %q would open an HTML tag", q, rest)
		}
		if text[i] == '&' && regexp.MustCompile(`^&#?\w+;`).MatchString(rest) {
			t.Errorf("%s: %q would be read as an HTML entity", q, rest)
		}
	}
	if strings.HasPrefix(q, "\"`") {
		t.Errorf("%s starts a Markdown string", q)
	}
	return strings.ReplaceAll(text, "\x00", "")
}

// Labels render as written under Mermaid's rules for quoted labels and
// entity codes; comparisons keep their '<' and '>' as is.
func TestMermaidLabelEscaping(t *testing.T) {
	for _, tc := range []struct{ label, want string }{
		{"if ${ input.amount > 100 }", `"if ${ input.amount > 100 }"`},
		{"while ${ n < 3 && m >= 2 }", `"while ${ n < 3 && m >= 2 }"`},
		{`set { note: "say \"hi\"" }`, `"set { note: #34;say \#34;hi\#34;#34; }"`},
		{"if ${ a <b }", `"if ${ a #60;b }"`},
		{"x </script> y", `"x #60;/script> y"`},
		{"tag #gt; and #9829; stay text", `"tag #35;gt; and #35;9829; stay text"`},
		{"a &amp; b &#62; c & d", `"a #38;amp; b #38;#35;62; c & d"`},
		{"`md` label", "\"#96;md` label\""},
		{"two\nlines", `"two lines"`},
		{"end", `"end"`},
	} {
		got := mermaidLabel(tc.label)
		if got != tc.want {
			t.Errorf("mermaidLabel(%q) = %s, want %s", tc.label, got, tc.want)
		}
		want := strings.ReplaceAll(tc.label, "\n", " ")
		if dec := decodeMermaidLabel(t, got); dec != want {
			t.Errorf("%s renders as %q, want %q", got, dec, want)
		}
	}
	// A flow whose condition compares: the graph shows it as written.
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
