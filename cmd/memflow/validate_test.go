package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// execute runs one command in-process and returns its exit status, stdout
// and stderr.
func execute(t *testing.T, cmd *cobra.Command, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	code := 0
	if err != nil {
		code = 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
	}
	return code, out.String(), errb.String()
}

type activitySet []string

func (a activitySet) Has(n string) bool {
	for _, x := range a {
		if x == n {
			return true
		}
	}
	return false
}
func (a activitySet) Names() []string { return a }

var exampleActivities = activitySet{
	"research.perspective", "research.verify", "research.synthesize",
	"pipeline.loadImagePages", "pipeline.extractPage", "pipeline.validate", "pipeline.notify",
}

const examples = "../../flows/examples"

func TestValidateExamples(t *testing.T) {
	code, out, errs := execute(t, newValidateCmd(nil), examples)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	if out != "ok: 2 workflows, 8 hooks in 2 files\n" {
		t.Fatalf("stdout %q", out)
	}
	if !strings.Contains(errs, `warning: activity "research.verify" is not checked`) {
		t.Fatalf("unchecked activities should warn; stderr:\n%s", errs)
	}
	// --strict turns those warnings into errors.
	if code, _, _ := execute(t, newValidateCmd(nil), "--strict", examples); code != 1 {
		t.Fatalf("--strict without registered activities: exit %d, want 1", code)
	}
	// With the activities registered, --strict passes and nothing is printed
	// on stderr.
	code, _, errs = execute(t, newValidateCmd(exampleActivities), "--strict", examples)
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, errs)
	}
}

func writeFlow(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const badFlow = `memflow: v1
workflows:
  w:
    entity: doc
    steps:
      - activity: research.verfy
      - merge: { a: "${ steps.nope }" }
`

func TestValidateInvalid(t *testing.T) {
	path := writeFlow(t, badFlow)
	code, out, errs := execute(t, newValidateCmd(exampleActivities), path)
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	want := path + `:6:19: warning: unknown activity "research.verfy" (did you mean "research.verify"?)
        - activity: research.verfy
                    ^
` + path + `:7:31: unknown step "nope" in steps.nope
        - merge: { a: "${ steps.nope }" }
                                ^
`
	if errs != want {
		t.Fatalf("stderr:\n%s\nwant:\n%s", errs, want)
	}
	// --strict: the unknown activity is an error too.
	code, out, _ = execute(t, newValidateCmd(exampleActivities), "--strict", "--json", path)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	var ds []struct {
		Pos struct {
			File      string
			Line, Col int
		}
		Severity, Message string
	}
	if err := json.Unmarshal([]byte(out), &ds); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if len(ds) != 2 || ds[0].Severity != "error" || ds[0].Pos.Line != 6 || ds[0].Pos.Col != 19 || ds[1].Pos.Line != 7 {
		t.Fatalf("diagnostics: %+v", ds)
	}
}

func TestValidateJSONValid(t *testing.T) {
	code, out, _ := execute(t, newValidateCmd(exampleActivities), "--json", examples)
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
}

func TestValidateUsage(t *testing.T) {
	if code, _, _ := execute(t, newValidateCmd(nil)); code != 2 {
		t.Fatalf("no paths: exit %d, want 2", code)
	}
	if code, _, _ := execute(t, newValidateCmd(nil), "--nope", examples); code == 0 {
		t.Fatal("unknown flag accepted")
	}
	code, _, errs := execute(t, newValidateCmd(nil), filepath.Join(t.TempDir(), "missing.yaml"))
	if code != 1 || !strings.Contains(errs, "cannot read") {
		t.Fatalf("missing file: exit %d, stderr %q", code, errs)
	}
}

// TestValidateStrictLookalike: text that reads like an expression is a
// warning (the flow is valid), and --strict fails on it.
func TestValidateStrictLookalike(t *testing.T) {
	path := writeFlow(t, `memflow: v1
workflows:
  w:
    entity: doc
    steps:
      - id: approval
        wait: approved
      - merge: { by: steps.approval.by, status: shipped }
`)
	code, out, errs := execute(t, newValidateCmd(exampleActivities), path)
	want := path + `:8:22: warning: "steps.approval.by" is plain text, stored as it is written: did you mean "${ steps.approval.by }"?
        - merge: { by: steps.approval.by, status: shipped }
                       ^
`
	if code != 0 || errs != want || !strings.HasPrefix(out, "ok: 1 workflow") {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s\nwant:\n%s", code, out, errs, want)
	}
	code, out, errs = execute(t, newValidateCmd(exampleActivities), "--strict", path)
	if code != 1 || out != "" || !strings.Contains(errs, ":8:22: \"steps.approval.by\" is plain text") {
		t.Fatalf("--strict: exit %d, stdout %q, stderr:\n%s", code, out, errs)
	}
}
