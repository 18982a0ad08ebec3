package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
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
