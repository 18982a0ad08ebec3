package runtime

import (
	"context"
	"time"

	"github.com/memflow/memflow/internal/store"
)

// driverID names the claims RunDue makes.
const driverID = "run-due"

// RunDue handles, one at a time in the calling goroutine, every task that is
// due at the engine's clock, including those the handled tasks create, until
// none is due or max tasks were handled (0: no bound). It returns how many it
// handled. It is the worker loop without concurrency, polling or leases that
// matter: tools that drive a virtual clock (flow tests) call it, then move
// the clock to NextDue and call it again, so a run is deterministic.
func (e *Engine) RunDue(ctx context.Context, max int) (int, error) {
	cfg := WorkerConfig{ID: driverID, Concurrency: 1, Lease: time.Hour, Grace: time.Second}
	if err := cfg.defaults(); err != nil {
		return 0, err
	}
	n := 0
	for max <= 0 || n < max {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		tasks, err := e.st.ClaimTasks(ctx, store.ClaimParams{Limit: 1, Lease: cfg.Lease, Worker: cfg.ID,
			Now: e.now(), WithJobs: true})
		if err != nil {
			return n, err
		}
		if len(tasks) == 0 {
			return n, nil
		}
		e.handle(ctx, tasks[0], &cfg)
		n++
	}
	return n, nil
}

// NextDue tells when the soonest pending task becomes due; false when no
// task is pending.
func (e *Engine) NextDue(ctx context.Context) (time.Time, bool, error) {
	return e.st.NextDue(ctx)
}
