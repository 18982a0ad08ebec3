package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/memflow/memflow/internal/pgtest"
)

// A worker with --log-format json --log-level debug on a database URL that
// holds a password: every line is a JSON object, lines about an instance
// carry app, workflow, id, step and attempt, and the password appears in no
// line, also when the worker logs what activities were given and returned.
func TestWorkerJSONLogs(t *testing.T) {
	base, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	app := pgtest.App(t, base.String())
	base.User = url.UserPassword(base.User.Username(), "s3cretPassw0rd") // trust auth ignores it
	db := base.String()

	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	flow := `memflow: v1
workflows:
  fetch:
    entity: fetch
    steps:
      - id: get
        activity: http.request
        args: { url: "${ input.url }" }
        retry: { maxAttempts: 3, initialInterval: 10ms }
`
	if err := os.WriteFile(filepath.Join(dir, "fetch.yaml"), []byte(flow), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"worker", "--flows", dir, "--db", db, "--app", app, "--log-format", "json", "--log-level", "debug"},
			&bytes.Buffer{}, &stderr)
	}()
	waitOutput(t, &stderr, `worker serving`)
	var out bytes.Buffer
	if code := run(context.Background(), []string{"start", "fetch", "--args", `{"url":"` + srv.URL + `"}`, "--db", db, "--app", app}, &out, io.Discard); code != 0 {
		t.Fatalf("start exit %d", code)
	}
	id := strings.TrimSpace(out.String())
	if code := run(context.Background(), []string{"result", id, "--wait", "--timeout", "20s", "--db", db, "--app", app}, io.Discard, io.Discard); code != 0 {
		t.Fatalf("result exit %d", code)
	}
	cancel()
	if code := <-exit; code != 0 {
		t.Fatalf("worker exit %d:\n%s", code, stderr.String())
	}

	var failed, ok, committed bool
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if strings.Contains(line, "s3cretPassw0rd") {
			t.Errorf("the database password is in a log line: %s", line)
		}
		if !strings.HasPrefix(line, "{") {
			continue // the worker's own lines (serving, load)
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", line, err)
		}
		if rec["id"] != id {
			continue
		}
		if rec["app"] != app || rec["workflow"] != "fetch" {
			t.Errorf("instance line without app and workflow: %s", line)
		}
		switch rec["msg"] {
		case "activity attempt failed":
			failed = rec["step"] == "get" && rec["attempt"] == float64(1) && rec["level"] == "INFO"
		case "activity attempt":
			ok = rec["step"] == "get" && rec["attempt"] == float64(2) && strings.Contains(rec["result"].(string), `"ok":true`)
		case "transition committed":
			committed = true
		}
	}
	if !failed || !ok || !committed {
		t.Errorf("want a failed attempt 1, an attempt 2 with its result and a committed transition (got %v %v %v):\n%s",
			failed, ok, committed, stderr.String())
	}
}
