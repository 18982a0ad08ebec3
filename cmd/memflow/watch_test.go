package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const watchFlow = `memflow: v1
workflows:
  hot:
    entity: doc
    steps:
      - set: { version: VER }
`

// worker --watch reloads a changed flow; a broken edit keeps the old
// version serving and says why.
func TestWorkerWatch(t *testing.T) {
	dir := t.TempDir()
	flows := filepath.Join(dir, "flows")
	os.Mkdir(flows, 0o755)
	file := filepath.Join(flows, "hot.yaml")
	write := func(src string) {
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(strings.ReplaceAll(watchFlow, "VER", "one"))
	db := "sqlite:" + filepath.Join(dir, "m.db")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"worker", "--flows", flows, "--watch", "--db", db}, &bytes.Buffer{}, &logs)
	}()
	deadline := time.Now().Add(30 * time.Second)
	// runOnce starts hot and returns its result, or "" when it cannot yet.
	runOnce := func() string {
		code, out, _ := cli(t, "start", "hot", "--db", db)
		if code != 0 {
			return ""
		}
		code, out, _ = cli(t, "result", strings.TrimSpace(out), "--wait", "--timeout", "20s", "--db", db)
		if code != 0 {
			return ""
		}
		return out
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; worker log:\n%s", what, logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("version one", func() bool { return strings.Contains(runOnce(), `"one"`) })

	write("memflow: v1\nworkflows:\n  hot:\n    steps: [}\n")
	waitFor("the broken edit to be reported", func() bool { return strings.Contains(logs.String(), "reload failed") })
	if out := runOnce(); !strings.Contains(out, `"one"`) {
		t.Errorf("after a broken edit: %q, want version one still serving", out)
	}

	write(strings.ReplaceAll(watchFlow, "VER", "two"))
	waitFor("version two", func() bool { return strings.Contains(runOnce(), `"two"`) })
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("worker exit %d", code)
	}
}

// waitOutput polls until out matches pattern, or fails after a deadline.
func waitOutput(t *testing.T, out *syncBuffer, pattern string) {
	t.Helper()
	re := regexp.MustCompile(pattern)
	deadline := time.Now().Add(20 * time.Second)
	for !re.MatchString(out.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("no output matching %q; got:\n%s", pattern, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const helloV1 = `memflow: v1
workflows:
  hello:
    entity: greeting
    steps:
      - set: { text: hi }
`

// TestWorkerWatchReloadLog runs `memflow worker --flows DIR --watch` and checks it
// prints one line per reload, reports a broken edit with its position and
// that `memflow flows` and `memflow start` in other processes see it all.
func TestWorkerWatchReloadLog(t *testing.T) {
	dir := t.TempDir()
	flow := filepath.Join(dir, "hello.yaml")
	if err := os.WriteFile(flow, []byte(helloV1), 0o644); err != nil {
		t.Fatal(err)
	}
	db := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
	save := func(src string) {
		t.Helper()
		tmp := filepath.Join(dir, ".hello.yaml.swp") // an editor's temp name: ignored itself
		if err := os.WriteFile(tmp, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, flow); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"worker", "--flows", dir, "--watch", "--db", db}, &bytes.Buffer{}, &stderr)
	}()
	defer func() {
		cancel()
		if code := <-exit; code != 0 {
			t.Errorf("worker exit %d:\n%s", code, stderr.String())
		}
	}()
	waitOutput(t, &stderr, `(?m)^load: 1 flow changed: hello \(new\) [0-9a-f]{8}$`)
	waitOutput(t, &stderr, `worker serving all queues \(workflows: \[hello\]\)`)

	save(strings.Replace(helloV1, "hi", "hello", 1))
	waitOutput(t, &stderr, `(?m)^reload: 1 flow changed: hello [0-9a-f]{8}->[0-9a-f]{8}$`)

	save(strings.Replace(helloV1, "- set: { text: hi }", "- activity: nope.nothing", 1))
	waitOutput(t, &stderr, `(?m)^reload failed, keeping the previous flows: 1 error\n.*hello\.yaml:6:19: unknown activity "nope\.nothing"`)

	cli := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(context.Background(), append(args, "--db", db), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	code, out, _ := cli("flows")
	if code != 0 || !regexp.MustCompile(`hello\s+[0-9a-f]{32}\s+serving`).MatchString(out) ||
		!regexp.MustCompile(`last load failed at \S+ \(.*\): 1 error;`).MatchString(out) || !strings.Contains(out, `hello.yaml:6:19: unknown activity "nope.nothing"`) {
		t.Errorf("memflow flows = %d:\n%s", code, out)
	}
	code, out, _ = cli("flows", "--json")
	var st struct {
		Flows []struct {
			Name    string `json:"name"`
			Removed bool   `json:"removed"`
		} `json:"flows"`
		LastError *struct {
			Errors []string `json:"errors"`
		} `json:"lastError"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 || len(st.Flows) != 1 || st.LastError == nil {
		t.Errorf("memflow flows --json = %d %v:\n%s", code, err, out)
	}

	if code, out, errOut := cli("start", "hello"); code != 0 || strings.TrimSpace(out) == "" {
		t.Errorf("start while the flow is broken = %d %q %q; the previous version should serve", code, out, errOut)
	}
	// Another flow file in a new sub-folder, then delete hello.yaml.
	sub := filepath.Join(dir, "more")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "bye.yml"), []byte(strings.ReplaceAll(helloV1, "hello", "bye")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(flow); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, &stderr, `(?m)^reload: 1 flow changed: bye \(new\) [0-9a-f]{8}; 1 removed: hello$`)
	code, _, errOut := cli("start", "hello")
	if code != 1 || !strings.Contains(errOut, `workflow "hello" was removed from the flows (last version`) {
		t.Errorf("start of a removed flow = %d %q", code, errOut)
	}
	t.Logf("worker output:\n%s", stderr.String())
}
