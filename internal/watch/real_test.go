package watch

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// recorder collects the bursts a real Watcher reports.
type recorder struct {
	mu     sync.Mutex
	bursts [][]string
}

func (r *recorder) changed(_ context.Context, paths []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bursts = append(r.bursts, paths)
}

func (r *recorder) all() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.bursts)
}

// waitFor polls until a burst reported after the first since contains path.
func (r *recorder) waitFor(t *testing.T, since int, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, b := range r.all()[since:] {
			if slices.Contains(b, path) {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no reload reported %s; bursts: %v", path, r.all())
}

func runReal(t *testing.T, paths ...string) *recorder {
	t.Helper()
	w, err := New(Config{Paths: paths, Quiet: 30 * time.Millisecond, OnError: func(err error) { t.Errorf("watch error: %v", err) }})
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, r.changed) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return r
}

// An editor's atomic save (write a temp file, rename it over the original)
// is seen, and the temp file itself never is.
func TestRealRenameOver(t *testing.T) {
	dir := t.TempDir()
	flow := filepath.Join(dir, "flow.yaml")
	write(t, flow, "v1")
	r := runReal(t, dir)
	tmp := filepath.Join(dir, ".flow.yaml.tmp123")
	write(t, tmp, "v2")
	if err := os.Rename(tmp, flow); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, 0, flow)
	// A second save the same way: the watch survived the first rename.
	n := len(r.all())
	write(t, tmp, "v3")
	if err := os.Rename(tmp, flow); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, n, flow)
	for _, b := range r.all() {
		if slices.Contains(b, tmp) {
			t.Errorf("a temp file was reported: %v", b)
		}
	}
}

// Folders created after the start are followed, however deep, and deletions
// count as changes.
func TestRealNewFoldersAndDeletes(t *testing.T) {
	dir := t.TempDir()
	r := runReal(t, dir)
	sub := filepath.Join(dir, "team")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, 0, sub)
	f := filepath.Join(sub, "a.yaml")
	write(t, f, "x")
	r.waitFor(t, 0, f)
	deep := filepath.Join(sub, "x", "y", "b.yml")
	write(t, deep, "x") // MkdirAll then write: the file may land before the watch
	r.waitFor(t, 0, filepath.Join(sub, "x"))
	later := filepath.Join(sub, "x", "y", "c.yaml")
	write(t, later, "x")
	r.waitFor(t, 0, later)
	n := len(r.all())
	if err := os.Remove(f); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, n, f)
}

// A single file path is watched through its folder; its neighbours do not
// count.
func TestRealSingleFile(t *testing.T) {
	dir := t.TempDir()
	flow := filepath.Join(dir, "flow.yaml")
	write(t, flow, "v1")
	r := runReal(t, flow)
	write(t, filepath.Join(dir, "other.yaml"), "x")
	write(t, flow, "v2")
	r.waitFor(t, 0, flow)
	for _, b := range r.all() {
		if slices.Contains(b, filepath.Join(dir, "other.yaml")) {
			t.Errorf("a file next to the watched one was reported: %v", b)
		}
	}
}

// Many writes in quick succession are folded: far fewer reloads than writes.
func TestRealBurstFolds(t *testing.T) {
	dir := t.TempDir()
	r := runReal(t, dir)
	const n = 30
	var last string
	for i := range n {
		last = filepath.Join(dir, "f"+string(rune('a'+i%26))+string(rune('0'+i/26))+".yaml")
		write(t, last, "x")
	}
	r.waitFor(t, 0, last)
	if got := len(r.all()); got >= n/2 {
		t.Errorf("%d writes gave %d reloads; want them folded", n, got)
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("no paths accepted")
	}
	if _, err := New(Config{Paths: []string{filepath.Join(t.TempDir(), "missing")}}); err == nil {
		t.Error("a missing path accepted")
	}
	if _, err := New(Config{Paths: []string{t.TempDir()}, Quiet: -time.Second}); err == nil {
		t.Error("a negative quiet period accepted")
	}
}

// A watched folder that is removed and created again is watched again.
func TestRealRootRemovedAndBack(t *testing.T) {
	root := filepath.Join(t.TempDir(), "flows")
	write(t, filepath.Join(root, "a.yaml"), "x")
	r := runReal(t, root)
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, 0, root)
	n := len(r.all())
	back := filepath.Join(root, "b.yaml")
	write(t, back, "x")
	r.waitFor(t, n, root) // the folder's creation
	n = len(r.all())
	later := filepath.Join(root, "c.yaml")
	write(t, later, "x")
	r.waitFor(t, n, later)
}
