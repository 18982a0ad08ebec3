package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// Worker heartbeats (migration 0013_workers): ClaimTasks records, at most
// every HeartbeatEvery per worker, that the worker polled, with the queues
// it serves, so commands can tell a queue that nothing serves.

// HeartbeatEvery is the least time between two heartbeat writes of one
// worker: an idle worker claims every poll interval (1s by default), and
// one write in HeartbeatEvery keeps that cheap.
const HeartbeatEvery = 5 * time.Second

// heartbeatKeep is how long the row of a worker that stopped is kept.
const heartbeatKeep = time.Hour

// WorkerSeen is a worker's last heartbeat.
type WorkerSeen struct {
	ID       string
	Queues   []string // empty: every queue
	Root     string   // the instance tree its claims are restricted to; "" none
	LastSeen time.Time
}

// Serves reports whether w claims tasks of queue for instances of root's
// tree (a worker restricted to another tree does not).
func (w WorkerSeen) Serves(queue, root string) bool {
	if w.Root != "" && w.Root != root {
		return false
	}
	if len(w.Queues) == 0 {
		return true
	}
	for _, q := range w.Queues {
		if q == queue {
			return true
		}
	}
	return false
}

// beats remembers when each worker's heartbeat was last written by this
// store, so claims write one only every HeartbeatEvery.
type beats struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// due reports whether worker's heartbeat should be written at now, and
// if so counts it as written.
func (b *beats) due(worker string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last == nil {
		b.last = map[string]time.Time{}
	}
	if last, ok := b.last[worker]; ok && now.Sub(last) < HeartbeatEvery && !now.Before(last) {
		return false
	}
	b.last[worker] = now
	return true
}

// forget lets the next claim write worker's heartbeat again (the last
// write failed).
func (b *beats) forget(worker string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.last, worker)
}

// heartbeat records that p.Worker claimed at now, when it is due. A failure
// is returned but never fails the claim that caused it.
func (s *sqlStore) heartbeat(ctx context.Context, p ClaimParams, now time.Time) error {
	if p.Worker == "" || !s.beats.due(p.Worker, now) {
		return nil
	}
	queues := p.Queues
	if queues == nil {
		queues = []string{}
	}
	ql, err := json.Marshal(queues)
	if err != nil {
		return err
	}
	q := s.b.pool()
	_, err = q.exec(ctx, `INSERT INTO workers (id, queues, root_id, last_seen) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET queues = excluded.queues, root_id = excluded.root_id, last_seen = excluded.last_seen`,
		p.Worker, string(ql), p.Root, s.d.timeArg(now))
	if err == nil {
		_, err = q.exec(ctx, `DELETE FROM workers WHERE last_seen < $1`, s.d.timeArg(now.Add(-heartbeatKeep)))
	}
	if err != nil {
		s.beats.forget(p.Worker)
		return fmt.Errorf("record heartbeat of worker %q: %w", p.Worker, err)
	}
	return nil
}

func (s *sqlStore) RecentWorkers(ctx context.Context, since time.Time) ([]WorkerSeen, error) {
	r, err := s.b.pool().query(ctx, `SELECT id, queues, root_id, last_seen FROM workers WHERE last_seen >= $1 ORDER BY id`, s.d.timeArg(since))
	if err != nil {
		return nil, fmt.Errorf("recent workers: %w", err)
	}
	defer r.Close()
	var out []WorkerSeen
	for r.Next() {
		var w WorkerSeen
		var ql string
		var seen timeCol
		if err := r.Scan(&w.ID, &ql, &w.Root, &seen); err != nil {
			return nil, fmt.Errorf("recent workers: %w", err)
		}
		if err := json.Unmarshal([]byte(ql), &w.Queues); err != nil {
			return nil, fmt.Errorf("recent workers: queues of %q: %w", w.ID, err)
		}
		w.LastSeen = seen.t
		out = append(out, w)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("recent workers: %w", err)
	}
	return out, nil
}
