package runtime

import (
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/memflow/memflow/internal/store"
)

// Outcome is how an instance ended.
type Outcome struct {
	Status string // completed, failed or cancelled
	Result json.RawMessage
	Error  string
}

// endHub tells waiters in this process about the instance ends this engine
// commits, so a caller waiting for a result need not poll the database.
type endHub struct {
	mu      sync.Mutex
	waiters map[string]map[chan Outcome]struct{}
	// started holds instances this engine started and has not seen end, so
	// a Result right after Start need not read the database to learn that
	// the instance runs. Bounded: past maxStarted, starts are not recorded.
	started map[string]struct{}
	// recent keeps the last outcomes this engine committed (small results
	// only), so a Result asked after the end need not read the database.
	recent     map[string]Outcome
	recentRing []string
	recentNext int
}

// Bounds of endHub.recent: at most recentSize outcomes, each with a result
// of at most recentResultBytes.
const (
	recentSize        = 1024
	recentResultBytes = 4096
)

// EndedHere returns id's outcome if this engine committed its end recently.
func (e *Engine) EndedHere(id string) (Outcome, bool) {
	e.ends.mu.Lock()
	defer e.ends.mu.Unlock()
	o, ok := e.ends.recent[id]
	return o, ok
}

// remember records o in the ring of recent outcomes; h.mu is held.
func (h *endHub) remember(id string, o Outcome) {
	if len(o.Result) > recentResultBytes {
		return
	}
	if h.recent == nil {
		h.recent = map[string]Outcome{}
		h.recentRing = make([]string, recentSize)
	}
	if old := h.recentRing[h.recentNext]; old != "" {
		delete(h.recent, old)
	}
	h.recentRing[h.recentNext] = id
	h.recentNext = (h.recentNext + 1) % recentSize
	h.recent[id] = o
}

// maxStarted bounds endHub.started (instances that end in other processes
// stay in it until a Result for them reads their end).
const maxStarted = 100_000

// startedHere records that this engine started id.
func (h *endHub) startedHere(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started == nil {
		h.started = map[string]struct{}{}
	}
	if len(h.started) < maxStarted {
		h.started[id] = struct{}{}
	}
}

// RunningHere reports whether this engine started id and has not seen it
// end (it may have ended in another process).
func (e *Engine) RunningHere(id string) bool {
	e.ends.mu.Lock()
	defer e.ends.mu.Unlock()
	_, ok := e.ends.started[id]
	return ok
}

// Forget drops id from the instances started here (its end was read).
func (e *Engine) Forget(id string) {
	e.ends.mu.Lock()
	defer e.ends.mu.Unlock()
	delete(e.ends.started, id)
}

// Working reports whether a worker (Work) runs in this engine.
func (e *Engine) Working() bool { return e.workers.Load() > 0 }

// WatchEnd returns a channel that receives id's outcome if this engine
// commits its end (ends committed by other processes are not seen: keep
// polling, rarely). Call stop when done waiting.
func (e *Engine) WatchEnd(id string) (ch <-chan Outcome, stop func()) {
	h := &e.ends
	c := make(chan Outcome, 1)
	h.mu.Lock()
	if h.waiters == nil {
		h.waiters = map[string]map[chan Outcome]struct{}{}
	}
	if h.waiters[id] == nil {
		h.waiters[id] = map[chan Outcome]struct{}{}
	}
	h.waiters[id][c] = struct{}{}
	h.mu.Unlock()
	return c, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.waiters[id], c)
		if len(h.waiters[id]) == 0 {
			delete(h.waiters, id)
		}
	}
}

// ended delivers j's outcome to its waiters after the commit that ended it.
func (h *endHub) ended(j *store.Job) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.started, j.ID)
	o := Outcome{Status: j.Status, Result: j.Result, Error: j.Error}
	if _, seen := h.recent[j.ID]; !seen {
		h.remember(j.ID, o)
	}
	for c := range h.waiters[j.ID] {
		select {
		case c <- o:
		default: // already told
		}
	}
}

// commitHub wakes those watching the commits of an instance in this
// process (WatchCommits). With no watcher a commit costs one atomic load.
type commitHub struct {
	watchers atomic.Int32
	mu       sync.Mutex
	w        map[string]map[chan struct{}]struct{}
}

func (h *commitHub) committed(id string) {
	if h.watchers.Load() == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.w[id] {
		select {
		case c <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
}

// WatchCommits returns a channel that receives when this engine (a worker
// in this process, or a signal, hook or cancel sent through it) commits a
// transition of instance id; wake-ups coalesce. Commits of other processes
// are not seen: read the history to know what happened. stop ends the
// watch.
func (e *Engine) WatchCommits(id string) (ch <-chan struct{}, stop func()) {
	h := &e.commits
	c := make(chan struct{}, 1)
	h.mu.Lock()
	if h.w == nil {
		h.w = map[string]map[chan struct{}]struct{}{}
	}
	if h.w[id] == nil {
		h.w[id] = map[chan struct{}]struct{}{}
	}
	h.w[id][c] = struct{}{}
	h.watchers.Add(1)
	h.mu.Unlock()
	var once sync.Once
	return c, func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			delete(h.w[id], c)
			if len(h.w[id]) == 0 {
				delete(h.w, id)
			}
			h.watchers.Add(-1)
		})
	}
}
