package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// PendingSignal is a signal sent to an instance id that no instance holds
// yet: a row of pending_signals, kept until an instance with that id is
// created (TakePendingSignals) or ExpiresAt passes.
type PendingSignal struct {
	ID        int64 // assigned by the store, increasing in the order signals were kept
	Target    string
	Name      string
	Data      json.RawMessage
	SentAt    time.Time
	ExpiresAt time.Time
}

// lockTarget serialises, on Postgres, the transactions that keep a signal
// for id and the one that creates id (a transaction-scoped advisory lock
// keyed by the schema and the id); SQLite's single writer already does. It
// runs as a statement of its own, so the statements after it see what the
// transaction it waited for committed.
func (t *sqlTx) lockTarget(ctx context.Context, id string) error {
	if t.s.d.name != "postgres" {
		return nil
	}
	// Queued: it goes to the server with the statement that follows it.
	return t.q.later(ctx, "lock signals of "+strconv.Quote(id), nil, `SELECT pg_advisory_xact_lock($1)`, lockKey(t.s.channel+"/signal/"+id))
}

func (t *sqlTx) KeepSignal(ctx context.Context, p PendingSignal) (bool, error) {
	if p.Target == "" || p.Name == "" {
		return false, fmt.Errorf("keep signal: target %q and name %q must not be empty", p.Target, p.Name)
	}
	if err := checkJSON("signal data", p.Data); err != nil {
		return false, fmt.Errorf("keep signal %s for %q: %w", p.Name, p.Target, err)
	}
	if err := t.lockTarget(ctx, p.Target); err != nil {
		return false, fmt.Errorf("keep signal %s for %q: %w", p.Name, p.Target, err)
	}
	var one int
	err := t.q.queryRow(ctx, `SELECT 1 FROM jobs WHERE id = $1`, p.Target).Scan(&one)
	switch {
	case err == nil:
		return false, nil // the instance exists: deliver to it instead
	case !isNoRows(err):
		return false, fmt.Errorf("keep signal %s for %q: %w", p.Name, p.Target, err)
	}
	d := t.s.d
	sent := p.SentAt
	if sent.IsZero() {
		sent = t.s.now()
	}
	if _, err := t.q.exec(ctx, `INSERT INTO pending_signals (target_id, name, data, sent_at, expires_at)
VALUES ($1, $2, $3, $4, $5)`, p.Target, p.Name, d.jsonArg(p.Data), d.timeArg(sent), d.timeArg(p.ExpiresAt)); err != nil {
		return false, fmt.Errorf("keep signal %s for %q: %w", p.Name, p.Target, err)
	}
	return true, nil
}

func (t *sqlTx) TakePendingSignals(ctx context.Context, target string, now time.Time) ([]PendingSignal, error) {
	if err := t.lockTarget(ctx, target); err != nil {
		return nil, fmt.Errorf("take signals kept for %q: %w", target, err)
	}
	all, err := scanPending(t.q.query(ctx, `DELETE FROM pending_signals WHERE target_id = $1
RETURNING id, target_id, name, data, sent_at, expires_at`, target))
	if err != nil {
		return nil, fmt.Errorf("take signals kept for %q: %w", target, err)
	}
	out := all[:0]
	for _, p := range all {
		if p.ExpiresAt.After(now) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b PendingSignal) int { return cmp.Compare(a.ID, b.ID) }) // sent order
	return out, nil
}

// scanPending reads rows of pending_signals (id, target_id, name, data,
// sent_at, expires_at).
func scanPending(r rows, err error) ([]PendingSignal, error) {
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []PendingSignal
	for r.Next() {
		var p PendingSignal
		var sent, exp timeCol
		if err := r.Scan(&p.ID, &p.Target, &p.Name, jsonCol{&p.Data}, &sent, &exp); err != nil {
			return nil, err
		}
		p.SentAt, p.ExpiresAt = sent.t, exp.t
		out = append(out, p)
	}
	return out, r.Err()
}

// DeleteExpiredSignals deletes up to limit kept signals whose expiry passed.
func (s *sqlStore) DeleteExpiredSignals(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("delete expired signals: limit %d must be positive", limit)
	}
	n, err := s.b.pool().exec(ctx, `DELETE FROM pending_signals WHERE id IN
(SELECT id FROM pending_signals WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)`, s.d.timeArg(now), limit)
	if err != nil {
		return 0, fmt.Errorf("delete expired signals: %w", err)
	}
	return int(n), nil
}

// PendingSignals lists the signals kept for target, oldest first, expired
// ones included (for tools and tests).
func (s *sqlStore) PendingSignals(ctx context.Context, target string) ([]PendingSignal, error) {
	out, err := scanPending(s.b.pool().query(ctx, `SELECT id, target_id, name, data, sent_at, expires_at
FROM pending_signals WHERE target_id = $1 ORDER BY id`, target))
	if err != nil {
		return nil, fmt.Errorf("signals kept for %q: %w", target, err)
	}
	return out, nil
}
