package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// worker --metrics-addr serves the engine's metrics in the Prometheus text
// format, and they move with the work another process starts (the sleep
// makes the worker, not the starting process, end the instance).
func TestWorkerMetricsAddr(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.yaml"), []byte(helloV1+"      - sleep: 10ms\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	db := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"worker", "--flows", dir, "--db", db, "--metrics-addr", "127.0.0.1:0"}, &bytes.Buffer{}, &stderr)
	}()
	defer func() {
		cancel()
		if code := <-exit; code != 0 {
			t.Errorf("worker exit %d:\n%s", code, stderr.String())
		}
	}()
	waitOutput(t, &stderr, `worker serving`)
	url := regexp.MustCompile(`metrics at (http://\S+/metrics)`).FindStringSubmatch(stderr.String())
	if url == nil {
		t.Fatalf("no metrics address in:\n%s", stderr.String())
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"start", "hello", "--db", db}, &out, io.Discard); code != 0 {
		t.Fatalf("start exit %d", code)
	}
	id := strings.TrimSpace(out.String())
	if code := run(context.Background(), []string{"result", id, "--wait", "--timeout", "20s", "--db", db}, io.Discard, io.Discard); code != 0 {
		t.Fatalf("result exit %d", code)
	}
	resp, err := http.Get(url[1])
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`memflow_reloads_total{result="ok"} 1`,
		`memflow_workflows_ended_total{status="completed",workflow="hello"} 1`,
		`memflow_transitions_total{workflow="hello"} 1`,
		`go_goroutines `,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
}
