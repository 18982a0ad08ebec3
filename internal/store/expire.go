package store

import (
	"context"
	"fmt"
	"time"
)

func (t *sqlTx) SetJobExpiry(ctx context.Context, id string, at time.Time) error {
	if _, err := t.q.exec(ctx, `UPDATE jobs SET expires_at = $2 WHERE id = $1`, id, t.s.d.timeArg(at)); err != nil {
		return fmt.Errorf("set expiry of job %q: %w", id, err)
	}
	return nil
}

// DeleteExpiredJobs deletes up to limit ended jobs whose expiry is at or
// before now, with their tasks and history, in one transaction.
func (s *sqlStore) DeleteExpiredJobs(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("delete expired jobs: limit %d must be positive", limit)
	}
	var n int
	err := s.b.inTx(ctx, func(q querier) error {
		n = 0
		r, err := q.query(ctx, `SELECT id FROM jobs WHERE expires_at <= $1 AND status <> $2
ORDER BY expires_at LIMIT $3`, s.d.timeArg(now), StatusRunning, limit)
		if err != nil {
			return err
		}
		var ids []string
		for r.Next() {
			var id string
			if err := r.Scan(&id); err != nil {
				r.Close()
				return err
			}
			ids = append(ids, id)
		}
		r.Close()
		if err := r.Err(); err != nil || len(ids) == 0 {
			return err
		}
		list := s.d.listArg(ids)
		for _, tbl := range []string{"tasks", "history"} {
			if _, err := q.exec(ctx, `DELETE FROM `+tbl+` WHERE job_id `+s.d.inList, list); err != nil {
				return err
			}
		}
		m, err := q.exec(ctx, `DELETE FROM jobs WHERE id `+s.d.inList, list)
		n = int(m)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete expired jobs: %w", err)
	}
	return n, nil
}
