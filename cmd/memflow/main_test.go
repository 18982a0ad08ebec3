package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cli runs the CLI in-process and returns its exit status and outputs.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestRunResearchAgent(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
	code, out, errs := cli(t, "run", "../../flows/examples/research-agent.yaml", "--db", db, "--id", "r1",
		"--args", `{"query":"is solid-state battery tech ready?"}`)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil || res["status"] != "completed" {
		t.Fatalf("result %q: %v", out, err)
	}
	for _, want := range []string{"started researchAgent as r1", "→ researchAgent started",
		"→ hook optimisticPerspective started",
		"optimisticPerspective › view: activity research.perspective -> {\"confidence\":",
		"skepticalPerspective › merge perspectives -> {", "✓ hook verificationHook completed", "✓ completed in "} {
		if !strings.Contains(errs, want) {
			t.Errorf("progress lacks %q:\n%s", want, errs)
		}
	}
	if strings.Contains(errs, "t4") || strings.Contains(errs, "step-1") {
		t.Errorf("progress names threads or generated labels:\n%s", errs)
	}
	// The instance can be inspected afterwards.
	code, out, _ = cli(t, "get", "r1", "perspectives.synthesis.confidence", "--db", db)
	if code != 0 || strings.TrimSpace(out) == "" {
		t.Errorf("get: %d %q", code, out)
	}
	code, out, _ = cli(t, "find", "research-agent", "--where", `{"status":"completed"}`, "--db", db)
	if code != 0 || !strings.Contains(out, `"r1"`) {
		t.Errorf("find: %d %q", code, out)
	}
	code, out, _ = cli(t, "history", "r1", "--db", db)
	if code != 0 || !strings.Contains(out, `"completed"`) ||
		!strings.Contains(out, `"desc": "view: activity research.perspective",`) ||
		!strings.Contains(out, `"hook": "optimisticPerspective",`) {
		t.Errorf("history: %d %s", code, out)
	}
	code, out, _ = cli(t, "flows", "--db", db)
	if code != 0 || !strings.Contains(out, "researchAgent") {
		t.Errorf("flows: %d %q", code, out)
	}
	code, out, _ = cli(t, "result", "r1", "--db", db)
	if code != 0 || !strings.Contains(out, "completed") {
		t.Errorf("result: %d", code)
	}
	// start uses the newest stored version: no flow file needed.
	code, out, errs = cli(t, "start", "researchAgent", "--args", `{"query":"q"}`, "--id", "r2", "--db", db)
	if code != 0 || strings.TrimSpace(out) != "r2" {
		t.Fatalf("start: %d %q %s", code, out, errs)
	}
	if code, _, errs = cli(t, "cancel", "r2", "--db", db); code != 0 {
		t.Fatalf("cancel: %s", errs)
	}
	if code, _, errs = cli(t, "result", "r2", "--wait", "--timeout", "10s", "--db", db); code != 1 || !strings.Contains(errs, "cancelled") {
		t.Errorf("result of a cancelled workflow: exit %d %s", code, errs)
	}
	if code, _, errs = cli(t, "start", "researchAgent", "--args", `{"query":""}`, "--db", db); code != 1 || !strings.Contains(errs, "invalid input") {
		t.Errorf("invalid input: exit %d %s", code, errs)
	}
}

func TestPipelineWithSignal(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
	done := make(chan struct{})
	var code int
	var out, errs string
	go func() {
		defer close(done)
		code, out, errs = cli(t, "run", "../../flows/examples/document-pipeline.yaml", "--db", db, "--id", "doc",
			"--args", `{"documentId":"d-1"}`, "--quiet")
	}()
	// Another "terminal" starts a hook once the instance exists, then
	// approves.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, _, e := cli(t, "hook", "doc", "notificationHook", "--args", `{"documentId":"d-1"}`, "--db", db)
		if c == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hook: %s", e)
		}
		time.Sleep(50 * time.Millisecond) // the run command is still starting
	}
	if c, _, e := cli(t, "signal", "doc", "approval", "--data", `{"approved":true,"by":"ana"}`, "--db", db); c != 0 {
		t.Fatalf("signal: %s", e)
	}
	<-done
	if code != 0 || !strings.Contains(out, `"approvedBy": "ana"`) {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = cli(t, "history", "doc", "--db", db)
	if code != 0 || strings.Count(out, `"hook": "notificationHook"`) < 3 {
		t.Errorf("the hook started from the CLI is not in the history (exit %d): %s", code, errs)
	}
	for _, args := range [][]string{{"index", "document", "status"}, {"migrate"}} {
		if code, _, errs := cli(t, append(args, "--db", db)...); code != 0 {
			t.Errorf("%v: exit %d %s", args, code, errs)
		}
	}
}

// worker serves instances started elsewhere, from the stored versions.
func TestWorkerCommand(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errb bytes.Buffer
	go func() {
		done <- run(ctx, []string{"worker", "--flows", "../../flows/examples", "--db", db}, &bytes.Buffer{}, &errb)
	}()
	deadline := time.Now().Add(30 * time.Second)
	var id string
	for {
		code, out, errs := cli(t, "start", "researchAgent", "--args", `{"query":"q"}`, "--db", db)
		if code == 0 {
			id = strings.TrimSpace(out)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("start: %s", errs)
		}
		time.Sleep(20 * time.Millisecond) // the worker is still loading the flows
	}
	code, out, errs := cli(t, "result", id, "--wait", "--timeout", "30s", "--db", db)
	if code != 0 || !strings.Contains(out, `"status": "completed"`) {
		t.Errorf("result: %d %s %s", code, out, errs)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("worker exit %d: %s", code, errb.String())
	}
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "m.db")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("memflow: v1\nworkflows:\n  w:\n    entity: e\n    steps:\n      - activity: nope.nothing\n"), 0o644)
	failing := filepath.Join(dir, "fail.yaml")
	os.WriteFile(failing, []byte("memflow: v1\nworkflows:\n  w:\n    entity: e\n    steps:\n      - fail: no luck\n"), 0o644)
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"run"}, 2, "wrong number of arguments"},
		{[]string{"nosuch"}, 2, "unknown command"},
		{[]string{"run", failing, "--nope"}, 2, "unknown flag"},
		{[]string{"run", failing, "--args", "{bad"}, 2, "--args is not valid JSON"},
		{[]string{"run", bad}, 1, "nope.nothing"},
		{[]string{"run", failing}, 1, "no luck"},
		{[]string{"get", "missing"}, 1, `no instance "missing"`},
	} {
		code, _, errs := cli(t, append(tc.args, "--db", db)...)
		if code != tc.code || !strings.Contains(errs, tc.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errs, tc.code, tc.msg)
		}
	}
}
