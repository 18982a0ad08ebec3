package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestBenchJSON(t *testing.T) {
	var out, errw bytes.Buffer
	code := run(context.Background(), []string{"bench", "--workflows", "3", "--concurrency", "2",
		"--limit-duration", "100ms", "--json"}, &out, &errw)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errw.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var rep map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		t.Fatalf("last line is not JSON: %v\n%s", err, out.String())
	}
	for _, k := range []string{"workflows_per_sec", "transitions_per_sec", "p50_ms", "p95_ms", "p99_ms",
		"commits_per_workflow", "db_limit_commits_per_sec", "ratio"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("report lacks %s: %s", k, lines[len(lines)-1])
		}
	}
	if rep["workflows"] != float64(3) {
		t.Errorf("workflows = %v, want 3", rep["workflows"])
	}
}

func TestBenchUnknownWorkload(t *testing.T) {
	var out, errw bytes.Buffer
	if code := run(context.Background(), []string{"bench", "--workload", "nope"}, &out, &errw); code == 0 {
		t.Fatal("want a failure for an unknown workload")
	}
	if !strings.Contains(errw.String(), `unknown workload "nope"`) {
		t.Errorf("stderr %q does not name the workload", errw.String())
	}
}
