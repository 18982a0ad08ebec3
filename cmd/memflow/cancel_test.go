package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cancel --tree reaches a detached child of a root that already completed,
// which plain cancel refuses, and prints how many instances it cancelled.
func TestCancelTreeCommand(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "m.db")
	flow := filepath.Join(dir, "tree.yaml")
	if err := os.WriteFile(flow, []byte(`memflow: v1
workflows:
  top:
    entity: doc
    steps:
      - id: m
        workflow: mid
        await: false
  mid:
    entity: doc
    steps:
      - wait: never
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := cli(t, "run", flow, "--workflow", "top", "--id", "t", "--quiet", "--db", db); code != 0 {
		t.Fatalf("run: exit %d: %s", code, errs)
	}
	if code, _, errs := cli(t, "cancel", "t", "--db", db); code != 1 || !strings.Contains(errs, "already completed") {
		t.Errorf("cancel of a completed root: exit %d %s", code, errs)
	}
	code, out, errs := cli(t, "cancel", "--tree", "t", "--db", db)
	if code != 0 || !strings.Contains(out, "cancelled 1 instance(s) in the tree of t") {
		t.Fatalf("cancel --tree: exit %d %q %s", code, out, errs)
	}
	if code, _, errs := cli(t, "result", "t.m.1", "--db", db); code != 1 || !strings.Contains(errs, "cancelled") {
		t.Errorf("result of the detached child: exit %d %s", code, errs)
	}
}
