package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// serve --flows --watch is the one command an author runs: it loads the
// flows, runs them, answers the API and the console, and /metrics moves
// with the work.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.yaml"), []byte(helloV1), 0o644); err != nil {
		t.Fatal(err)
	}
	db := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"serve", "--flows", dir, "--watch", "--db", db, "--addr", "127.0.0.1:0"}, &bytes.Buffer{}, &stderr)
	}()
	defer func() {
		cancel()
		if code := <-exit; code != 0 {
			t.Errorf("serve exit %d:\n%s", code, stderr.String())
		}
	}()
	waitOutput(t, &stderr, `memflow console at`)
	base := regexp.MustCompile(`console at (http://\S+)/ `).FindStringSubmatch(stderr.String())[1]
	resp, err := http.Post(base+"/api/v1/workflows/hello/start", "application/json", strings.NewReader(`{"id":"h1","args":{"name":"ada"}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("start: %d", resp.StatusCode)
	}
	resp, err = http.Get(base + "/api/v1/instances/h1/result?wait=20s")
	if err != nil {
		t.Fatal(err)
	}
	var r struct{ Status string }
	json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if r.Status != "completed" {
		t.Fatalf("h1 %s, want completed", r.Status)
	}
	for path, want := range map[string]string{
		"/metrics":             `memflow_workflows_ended_total{status="completed",workflow="hello"} 1`,
		"/":                    `<title>memflow`,
		"/instances/h1":        `<title>memflow`,
		"/readyz":              `"ready"`,
		"/api/v1/flows":        `"hello"`,
		"/assets/app.js":       `/api/v1/`,
		"/api/v1/counts":       `"completed":1`,
		"/healthz":             `"ok"`,
		"/api/v1/sources":      `hello.yaml`,
		"/api/v1/openapi.json": `"openapi": "3.1.0"`,
	} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d, want %q in:\n%.600s", path, resp.StatusCode, want, b)
		}
	}
}

// Beyond loopback, serve needs a token.
func TestServeRefusesOpenBindWithoutToken(t *testing.T) {
	t.Setenv("MEMFLOW_TOKEN", "")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	code := run(ctx, []string{"serve", "--addr", "0.0.0.0:0", "--db", "sqlite:" + filepath.Join(t.TempDir(), "m.db")}, io.Discard, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "not a loopback address: set --token") {
		t.Errorf("exit %d: %s", code, stderr.String())
	}
	for _, a := range []string{"127.0.0.1:1", "[::1]:1", "localhost:1"} {
		if !loopback(a) {
			t.Errorf("%s is loopback", a)
		}
	}
	for _, a := range []string{"0.0.0.0:1", ":1", "10.0.0.1:1", "example.com:1"} {
		if loopback(a) {
			t.Errorf("%s is not loopback", a)
		}
	}
}
