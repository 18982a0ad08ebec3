package runtime

import (
	"context"
	"fmt"
	"time"
)

// This file holds the start options (StartParams.TaskQueue, Expire,
// Entity) and the deletion of expired instances.

// maxQueueBytes bounds a task queue name given at start.
const maxQueueBytes = 200

// startOpts checks a start's options against its program.
func (e *Engine) startOpts(prog *program, p StartParams) (jobOpts, error) {
	var o jobOpts
	if p.TaskQueue != "" {
		if len(p.TaskQueue) > maxQueueBytes {
			return o, fmt.Errorf("task queue of %d bytes: the limit is %d", len(p.TaskQueue), maxQueueBytes)
		}
		o.queue = p.TaskQueue
	}
	switch {
	case p.Expire < 0:
		return o, fmt.Errorf("expire %s: must not be negative", p.Expire)
	case p.Expire > 0 && p.Expire < time.Millisecond:
		return o, fmt.Errorf("expire %s: must be at least 1ms", p.Expire)
	}
	o.expireMS = p.Expire.Milliseconds()
	if p.Entity != nil {
		v, raw, err := jsonify(p.Entity)
		if err != nil {
			return o, fmt.Errorf("%w: entity: %v", ErrInvalidInput, err)
		}
		if _, ok := v.(map[string]any); !ok {
			return o, fmt.Errorf("%w: entity: want a JSON object, got %s", ErrInvalidInput, describe(v))
		}
		if prog.entity != nil {
			if err := prog.entity.Validate(v); err != nil {
				return o, fmt.Errorf("%w: %s", ErrInvalidInput, schemaProblems("entity", err))
			}
		}
		o.entity = raw
	}
	return o, nil
}

// save commits the transition (commit) and, when it ended an instance
// started with an expiry, records when its rows may be deleted.
func (x *txn) save() error {
	if err := x.commit(); err != nil {
		return err
	}
	if x.ended && x.in.ExpireMS > 0 && x.job.CompletedAt != nil {
		return x.tx.SetJobExpiry(x.ctx, x.job.ID, x.job.CompletedAt.Add(time.Duration(x.in.ExpireMS)*time.Millisecond))
	}
	return nil
}

// sweepJobs deletes expired instances, a small batch at a time.
func (e *Engine) sweepJobs(ctx context.Context) {
	if _, err := e.st.DeleteExpiredJobs(ctx, e.now(), sweepBatch); err != nil && ctx.Err() == nil {
		e.log.Warn("delete expired instances", "err", err)
	}
}
