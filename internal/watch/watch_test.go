package watch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// fakeTimers hands every timer the loop starts to the test, which fires it.
type fakeTimers struct{ armed chan *fakeTimer }

type fakeTimer struct {
	c       chan time.Time
	mu      sync.Mutex
	stopped bool
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }
func (t *fakeTimer) Stop() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}
func (t *fakeTimer) fire() { t.c <- time.Time{} }

func (f *fakeTimers) new(time.Duration) Timer {
	t := &fakeTimer{c: make(chan time.Time, 1)}
	f.armed <- t
	return t
}

// nextTimer waits for the loop to arm a timer.
func (f *fakeTimers) nextTimer(t *testing.T) *fakeTimer {
	t.Helper()
	select {
	case tm := <-f.armed:
		return tm
	case <-time.After(10 * time.Second):
		t.Fatal("no timer armed")
		return nil
	}
}

// loopHarness runs the debounce loop on synthetic events.
type loopHarness struct {
	events  chan fsnotify.Event
	errs    chan error
	timers  *fakeTimers
	reloads chan []string
	done    chan error
}

func startLoop(t *testing.T, dir string) *loopHarness {
	t.Helper()
	h := &loopHarness{events: make(chan fsnotify.Event), errs: make(chan error), timers: &fakeTimers{armed: make(chan *fakeTimer, 16)},
		reloads: make(chan []string, 16), done: make(chan error, 1)}
	w, err := New(Config{Paths: []string{dir}, NewTimer: h.timers.new, OnError: func(error) {}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		h.done <- w.loop(ctx, h.events, h.errs, func(_ context.Context, paths []string) { h.reloads <- paths })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-h.done; err != nil {
			t.Errorf("loop: %v", err)
		}
		w.Close()
	})
	return h
}

func (h *loopHarness) send(name string, op fsnotify.Op) {
	h.events <- fsnotify.Event{Name: name, Op: op}
}

func (h *loopHarness) noReloadYet(t *testing.T) {
	t.Helper()
	select {
	case got := <-h.reloads:
		t.Fatalf("unexpected reload %v", got)
	default:
	}
}

func (h *loopHarness) reload(t *testing.T) []string {
	t.Helper()
	select {
	case got := <-h.reloads:
		return got
	case <-time.After(10 * time.Second):
		t.Fatal("no reload")
		return nil
	}
}

// A burst of events is one reload, when the newest timer fires; a timer
// replaced by a later event never reloads.
func TestBurstIsOneReload(t *testing.T) {
	dir := t.TempDir()
	h := startLoop(t, dir)
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yml")
	h.send(a, fsnotify.Create)
	first := h.timers.nextTimer(t)
	h.send(a, fsnotify.Write)
	second := h.timers.nextTimer(t)
	first.fire() // stale: replaced by second
	h.send(b, fsnotify.Write)
	third := h.timers.nextTimer(t)
	h.send(a, fsnotify.Rename)
	last := h.timers.nextTimer(t)
	h.noReloadYet(t)
	for _, tm := range []*fakeTimer{first, second, third} {
		if !tm.stopped {
			t.Errorf("a replaced timer was not stopped")
		}
	}
	last.fire()
	if got := h.reload(t); !reflect.DeepEqual(got, []string{a, b}) {
		t.Errorf("reload paths = %v, want %v", got, []string{a, b})
	}
	// The next burst starts afresh.
	h.send(b, fsnotify.Remove)
	h.timers.nextTimer(t).fire()
	if got := h.reload(t); !reflect.DeepEqual(got, []string{b}) {
		t.Errorf("second reload paths = %v, want [%s]", got, b)
	}
	h.noReloadYet(t)
}

// Editor temp files, other extensions and chmod arm no timer.
func TestIgnoredEvents(t *testing.T) {
	dir := t.TempDir()
	h := startLoop(t, dir)
	for _, name := range []string{".#flow.yaml", "#flow.yaml#", "flow.yaml~", ".flow.yaml.swp", "4913",
		".flow.yaml", "notes.txt", "flow.yaml.tmp"} {
		h.send(filepath.Join(dir, name), fsnotify.Create)
		h.send(filepath.Join(dir, name), fsnotify.Rename)
	}
	h.send(filepath.Join(dir, "flow.yaml"), fsnotify.Chmod)
	h.send(filepath.Join(t.TempDir(), "elsewhere.yaml"), fsnotify.Write)
	h.send(filepath.Join(dir, "FLOW.YML"), fsnotify.Write) // the only relevant one
	h.timers.nextTimer(t).fire()
	if got := h.reload(t); !reflect.DeepEqual(got, []string{filepath.Join(dir, "FLOW.YML")}) {
		t.Errorf("reload paths = %v, want only FLOW.YML", got)
	}
	if n := len(h.timers.armed); n != 0 {
		t.Errorf("%d extra timers armed by ignored events", n)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Lost events (the kernel queue overflowed) trigger a reload: something may
// have changed.
func TestOverflowReloads(t *testing.T) {
	h := startLoop(t, t.TempDir())
	h.errs <- fsnotify.ErrEventOverflow
	h.timers.nextTimer(t).fire()
	if got := h.reload(t); len(got) != 0 {
		t.Errorf("reload paths = %v, want none named", got)
	}
	h.errs <- errors.New("some other watch error")
	h.send(filepath.Join(t.TempDir(), "outside.yaml"), fsnotify.Write)
	if n := len(h.timers.armed); n != 0 {
		t.Errorf("a plain watch error armed %d timers", n)
	}
}
