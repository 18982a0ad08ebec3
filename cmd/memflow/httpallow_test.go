package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const fetchFlow = `memflow: v1
workflows:
  fetch:
    entity: page
    input: { type: object, required: [url] }
    steps:
      - id: get
        activity: http.request
        args: { url: "${ input.url }" }
      - set: { body: "${ steps.get.body }" }
`

func fetchServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte("hello from the service"))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// run --http-allow and --http-max-body reach the http.request the workflow calls.
func TestRunHTTPFlags(t *testing.T) {
	srv, hits := fetchServer(t)
	dir := t.TempDir()
	flow := filepath.Join(dir, "fetch.yaml")
	if err := os.WriteFile(flow, []byte(fetchFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	args := `{"url":"` + srv.URL + `/x"}`
	for i, tc := range []struct {
		flags []string
		code  int
		want  string // in stdout when code is 0, else in stderr
	}{
		{nil, 0, "hello from the service"}, // no list: loopback is reached
		{[]string{"--http-allow", strings.TrimPrefix(srv.URL, "http://")}, 0, "hello from the service"},
		{[]string{"--http-allow", "example.com,10.0.0.0/8"}, 1, `HTTPForbidden: http.request GET ` + srv.URL + `/x: host "127.0.0.1" is not on the http allow-list (example.com, 10.0.0.0/8)`},
		{[]string{"--http-allow", "example.com", "--http-allow", "127.0.0.1"}, 0, "hello from the service"},
		{[]string{"--http-max-body", "10"}, 1, "ResponseTooLarge"},
		{[]string{"--http-max-body", "1KiB"}, 0, "hello from the service"},
		{[]string{"--http-allow", "http://example.com"}, 2, `--http-allow: http allow-list entry "http://example.com"`},
		{[]string{"--http-max-body", "lots"}, 2, `--http-max-body "lots"`},
	} {
		db := "sqlite:" + filepath.Join(dir, "m"+string(rune('a'+i))+".db")
		before := hits.Load()
		code, out, errs := cli(t, append([]string{"run", flow, "--quiet", "--db", db, "--args", args}, tc.flags...)...)
		got := out
		if tc.code != 0 {
			got = errs
		}
		if code != tc.code || !strings.Contains(got, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d and %q", tc.flags, code, out, errs, tc.code, tc.want)
		}
		if strings.Contains(tc.want, "HTTPForbidden") && hits.Load() != before {
			t.Errorf("%v: the refused service was reached", tc.flags)
		}
	}
}

// worker --http-allow reaches the activities it runs for instances started elsewhere.
func TestWorkerHTTPAllow(t *testing.T) {
	srv, hits := fetchServer(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fetch.yaml"), []byte(fetchFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	db := "sqlite:" + filepath.Join(dir, "m.db")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errb bytes.Buffer
	go func() {
		done <- run(ctx, []string{"worker", "--flows", dir, "--db", db, "--http-allow", "example.com"}, &bytes.Buffer{}, &errb)
	}()
	deadline := time.Now().Add(30 * time.Second)
	var id string
	for {
		code, out, errs := cli(t, "start", "fetch", "--args", `{"url":"`+srv.URL+`/"}`, "--db", db)
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
	if code != 1 || !strings.Contains(errs, "HTTPForbidden") || !strings.Contains(errs, "allow-list (example.com)") {
		t.Errorf("result: exit %d, stdout %q, stderr %q; want the step refused by the worker's allow-list", code, out, errs)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the service was reached %d times", n)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("worker exit %d: %s", code, errb.String())
	}
	if code, _, errs := cli(t, "worker", "--db", db, "--http-allow", "a b"); code != 2 || !strings.Contains(errs, `entry "a b"`) {
		t.Errorf("worker with a bad entry: exit %d, %s", code, errs)
	}
}
