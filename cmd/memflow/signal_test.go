package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// signal before the instance exists keeps the signal; signal --start
// starts the instance and delivers in one commit; --args without --start is
// a usage error.
func TestSignalStartCommand(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "m.db")
	flow := filepath.Join(dir, "w.yaml")
	if err := os.WriteFile(flow, []byte(`memflow: v1
workflows:
  noop:
    entity: doc
    steps:
      - set: { ok: true }
  two:
    entity: doc
    input:
      type: object
      properties: { k: { type: string } }
    steps:
      - id: a
        wait: go
      - id: b
        wait: go
    result: ["${ input.k }", "${ steps.a }", "${ steps.b }"]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := cli(t, "run", flow, "--workflow", "noop", "--quiet", "--db", db); code != 0 {
		t.Fatalf("run: exit %d: %s", code, errs)
	}
	if code, _, errs := cli(t, "signal", "s1", "go", "--data", `1`, "--db", db); code != 0 {
		t.Fatalf("signal before start: exit %d: %s", code, errs)
	}
	code, _, errs := cli(t, "signal", "s1", "go", "--data", `2`, "--start", "two", "--args", `{"k":"x"}`, "--db", db)
	if code != 0 || !strings.Contains(errs, "started two s1") {
		t.Fatalf("signal --start: exit %d: %s", code, errs)
	}
	code, out, errs := cli(t, "result", "s1", "--db", db)
	if code != 0 || strings.Join(strings.Fields(out), "") != `["x",1,2]` {
		t.Errorf("result: exit %d %q %s", code, out, errs)
	}
	if code, _, errs := cli(t, "signal", "s2", "go", "--args", `{}`, "--db", db); code == 0 || !strings.Contains(errs, "--args needs --start") {
		t.Errorf("--args without --start: exit %d %s", code, errs)
	}
	if code, _, errs := cli(t, "signal", "s1", "go", "--start", "two", "--args", `{"k":"y"}`, "--db", db); code == 0 || !strings.Contains(errs, "completed") {
		t.Errorf("signal --start of a completed instance: exit %d %s", code, errs)
	}
}

// start --queue --entity --expire: the seed entity is used, and bad values
// are refused before anything is written.
func TestStartOptionsCommand(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "m.db")
	flow := filepath.Join(dir, "w.yaml")
	if err := os.WriteFile(flow, []byte(`memflow: v1
workflows:
  inc:
    entity: doc
    steps:
      - increment: { n: 1 }
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := cli(t, "run", flow, "--workflow", "inc", "--quiet", "--db", db); code != 0 {
		t.Fatalf("run: exit %d: %s", code, errs)
	}
	code, _, errs := cli(t, "start", "inc", "--id", "s1", "--queue", "q2", "--entity", `{"n":41}`, "--expire", "1h", "--db", db)
	if code != 0 {
		t.Fatalf("start with options: exit %d: %s", code, errs)
	}
	code, out, errs := cli(t, "get", "s1", "n", "--db", db)
	if code != 0 || strings.TrimSpace(out) != "42" {
		t.Errorf("get n: exit %d %q %s", code, out, errs)
	}
	if code, _, errs := cli(t, "start", "inc", "--entity", `[1]`, "--db", db); code == 0 || !strings.Contains(errs, "want a JSON object") {
		t.Errorf("--entity [1]: exit %d %s", code, errs)
	}
	if code, _, errs := cli(t, "start", "inc", "--expire", "-1s", "--db", db); code != 2 || !strings.Contains(errs, "--expire must not be negative") {
		t.Errorf("--expire -1s: exit %d %s", code, errs)
	}
	if code, _, errs := cli(t, "signal", "s9", "go", "--queue", "q", "--db", db); code != 2 || !strings.Contains(errs, "need --start") {
		t.Errorf("signal --queue without --start: exit %d %s", code, errs)
	}
}
