package runtime

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/memflow/memflow/internal/store"
)

// Local hand-off: when a transition (or a start) makes a task that is due
// now and a worker of this engine serves its queue with a free slot, the
// task is written already leased to that worker, in the same transaction,
// and handed over in memory once the transaction commits, instead of being
// claimed through another transaction. Crash safety is the claim's: the
// lease is in the database, and a lease its worker never finishes expires
// and another worker takes the task.

// localWorker is a Work loop of this engine, as hand-off sees it.
type localWorker struct {
	id     string
	queues map[string]bool // nil: every queue
	root   string          // WorkerConfig.Root: only tasks of this tree ("" any)
	lease  time.Duration
	max    int64
	busy   atomic.Int64    // tasks running or handed over, of max
	tasks  chan store.Task // handed over, not yet started (capacity max)
}

// serves reports whether w takes tasks of queue for an instance of root's
// tree ("": unknown, which a worker restricted to a tree does not take).
func (w *localWorker) serves(queue, root string) bool {
	return (w.queues == nil || w.queues[queue]) && (w.root == "" || w.root == root)
}

// reserve takes a slot for one handed-over task.
func (w *localWorker) reserve() bool {
	for {
		n := w.busy.Load()
		if n >= w.max {
			return false
		}
		if w.busy.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// locals is the registry of this engine's Work loops.
type locals struct {
	mu      sync.Mutex
	workers []*localWorker
	next    int // round robin over workers
}

func (l *locals) add(w *localWorker) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.workers = append(l.workers, w)
}

func (l *locals) remove(w *localWorker) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, x := range l.workers {
		if x == w {
			l.workers = append(l.workers[:i], l.workers[i+1:]...)
			return
		}
	}
}

// pick reserves a slot on a worker serving queue for root's tree, or
// returns nil.
func (l *locals) pick(queue, root string) *localWorker {
	l.mu.Lock()
	defer l.mu.Unlock()
	for range l.workers {
		w := l.workers[l.next%len(l.workers)]
		l.next++
		if w.serves(queue, root) && w.reserve() {
			return w
		}
	}
	return nil
}

// outbox holds the tasks one transition hands over; a transaction that runs
// its function again (a retried serialization failure) starts it afresh.
type outbox struct {
	l     *locals
	items []handed
}

type handed struct {
	w    *localWorker
	task *store.Task // the task as enqueued (ID set by the store)
}

// reset releases what an earlier run of the transaction reserved.
func (o *outbox) reset() {
	for _, h := range o.items {
		h.w.busy.Add(-1)
	}
	o.items = o.items[:0]
}

// lease marks the tasks that a local worker can take at once as leased to
// it; they are handed over by deliver after the commit. job is the instance
// of the transition: the root of its tree is known for its own tasks only.
func (o *outbox) lease(tasks []store.Task, now time.Time, job *store.Job) {
	if o == nil || o.l == nil {
		return
	}
	for i := range tasks {
		t := &tasks[i]
		if t.Worker != "" || (!t.DueAt.IsZero() && t.DueAt.After(now)) {
			continue
		}
		root := ""
		if job != nil && t.JobID == job.ID {
			if root = job.Root; root == "" {
				root = job.ID
			}
		}
		w := o.l.pick(t.Queue, root)
		if w == nil {
			continue
		}
		t.Worker, t.LeaseUntil, t.Attempts = w.id, now.Add(w.lease), 1
		o.items = append(o.items, handed{w: w, task: t})
	}
}

// deliver hands the leased tasks to their workers after a commit, with job
// (the committed instance, when it is theirs) attached.
func (o *outbox) deliver(job *store.Job) {
	if o == nil {
		return
	}
	for _, h := range o.items {
		t := *h.task
		if job != nil && t.JobID == job.ID {
			j := *job
			t.Job = &j
		}
		h.w.tasks <- t // never blocks: each item holds one of max slots
	}
	o.items = nil
}

// release gives back the slots of a transaction that did not commit.
func (o *outbox) release() {
	if o != nil {
		o.reset()
	}
}
