package store

import (
	"context"
	"fmt"
	"time"
)

// ExtendLease implements Store.
func (s *sqlStore) ExtendLease(ctx context.Context, taskID int64, worker string, attempts int, until time.Time) (bool, error) {
	if worker == "" {
		return false, fmt.Errorf("extend lease of task %d: worker must not be empty", taskID)
	}
	n, err := s.b.pool().exec(ctx, `UPDATE tasks SET lease_until = $3 WHERE id = $1 AND worker = $2 AND attempts = $4`,
		taskID, worker, s.d.timeArg(until), attempts)
	if err != nil {
		return false, fmt.Errorf("extend lease of task %d for worker %q: %w", taskID, worker, err)
	}
	return n > 0, nil
}
