package store

import (
	"context"
	"sync"
	"sync/atomic"
)

// groupQueue gathers the transaction functions that goroutines ask for at
// once, for a backend that commits them in groups (its commit). A caller
// that may lead runs groups of the waiting functions until none waits;
// the others wait for their function's outcome.
type groupQueue struct {
	max    int // functions in one group at most
	commit func(group []*groupReq)
	// mayLead tells a caller whether it leads, given the groups running and
	// the functions waiting (its own included).
	mayLead func(leaders, waiting int) bool

	mu      sync.Mutex
	waiting []*groupReq
	leaders int
	grouped atomic.Int64 // functions committed in a group of more than one
}

// groupReq is one InTx call waiting for a group commit.
type groupReq struct {
	ctx  context.Context
	fn   func(q querier) error
	done chan error
}

// run queues fn and returns its outcome, leading groups when mayLead says
// so. A caller whose ctx ends stops waiting; its function may still commit.
func (g *groupQueue) run(ctx context.Context, fn func(q querier) error) error {
	req := &groupReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	g.mu.Lock()
	g.waiting = append(g.waiting, req)
	lead := g.mayLead(g.leaders, len(g.waiting))
	if lead {
		g.leaders++
	}
	g.mu.Unlock()
	if lead {
		g.lead()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		// The leader still answers req (done is buffered); this caller
		// stops waiting. Whether its function committed is unknown.
		return ctx.Err()
	}
}

// lead commits the waiting functions in groups until none waits.
func (g *groupQueue) lead() {
	for {
		g.mu.Lock()
		n := min(len(g.waiting), g.max)
		if n == 0 {
			g.leaders--
			g.mu.Unlock()
			return
		}
		group := g.waiting[:n:n]
		g.waiting = append([]*groupReq(nil), g.waiting[n:]...)
		g.mu.Unlock()
		g.commit(group)
	}
}
