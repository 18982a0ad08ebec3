package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run with an --id held by another workflow's instance fails (exit 1) and
// names the holder instead of printing that instance's result.
func TestRunIDTakenByOtherWorkflow(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "m.db")
	flow := filepath.Join(dir, "two.yaml")
	src := "memflow: v1\nworkflows:\n  wt:\n    entity: e\n    steps:\n      - set: { by: wt }\n" +
		"  ap:\n    entity: e\n    steps:\n      - set: { by: ap }\n"
	if err := os.WriteFile(flow, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := cli(t, "run", flow, "--workflow", "wt", "--id", "wt1", "--db", db, "--quiet"); code != 0 || !strings.Contains(out, `"wt"`) {
		t.Fatalf("run wt: exit %d, %s %s", code, out, errs)
	}
	code, out, errs := cli(t, "run", flow, "--workflow", "ap", "--id", "wt1", "--db", db, "--quiet")
	if want := `workflow id "wt1" is taken by an instance of "wt"`; code != 1 || out != "" || !strings.Contains(errs, want) {
		t.Errorf("run ap as wt1: exit %d, stdout %q, stderr %q; want 1 and %q", code, out, errs, want)
	}
}
