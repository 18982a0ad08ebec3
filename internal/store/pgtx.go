package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgTx is a Postgres transaction that pipelines its statements: BEGIN goes
// out with the first statement, writes whose results are only checked (not
// read) wait in a queue (querier.later) and go out together with the next
// statement that returns rows, or with COMMIT. A transition that reads its
// instance and then writes it, its tasks and its history costs two round
// trips instead of one per statement.
type pgTx struct {
	conn   *pgxpool.Conn
	queued []queuedStmt
	begun  bool // BEGIN was sent
	// owner numbers the function of a group commit now running; blamed is
	// the owner of the queued statement that failed (-1: none), which the
	// error reaches later, at another function's read or at the commit.
	owner, blamed int
}

type queuedStmt struct {
	what  string // what the statement does, for its errors
	sql   string
	args  []any
	gone  error // reported when its guard (guardSQL) trips
	owner int   // pgTx.owner when it was queued
}

// roundTrips counts the batches pgTx and the claim send to Postgres, for
// tests that pin how many a transition costs.
var roundTrips atomic.Int64

// RoundTrips is how many round trips this process's Postgres transactions
// (claims and pgTx batches) have made.
func RoundTrips() int64 { return roundTrips.Load() }

func (t *pgTx) later(_ context.Context, what string, gone error, q string, args ...any) error {
	t.queued = append(t.queued, queuedStmt{what: what, sql: q, args: args, gone: gone, owner: t.owner})
	return nil
}

func (t *pgTx) pipelines() bool { return true }

// send sends BEGIN (the first time), the queued statements and q (when not
// empty) as one batch, and returns the results positioned at q's.
func (t *pgTx) send(ctx context.Context, q string, args []any) (pgx.BatchResults, error) {
	b := &pgx.Batch{}
	begin := !t.begun
	if begin {
		b.Queue("BEGIN")
	}
	queued := t.queued
	t.queued = nil
	for _, s := range queued {
		b.Queue(s.sql, s.args...)
	}
	if q != "" {
		b.Queue(q, args...)
	}
	t.begun = true
	roundTrips.Add(1)
	br := t.conn.SendBatch(ctx, b)
	if begin {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return nil, err
		}
	}
	for _, s := range queued {
		if _, err := br.Exec(); err != nil {
			br.Close()
			t.blamed = s.owner
			return nil, laterErr(s.what, s.gone, err)
		}
	}
	return br, nil
}

func (t *pgTx) exec(ctx context.Context, q string, args ...any) (int64, error) {
	if len(args) == 0 {
		// A statement without arguments may hold several commands (a
		// migration): it goes by the simple protocol, on its own, after
		// BEGIN and what is queued.
		if !t.begun || len(t.queued) > 0 {
			br, err := t.send(ctx, "", nil)
			if err != nil {
				return 0, err
			}
			if err := br.Close(); err != nil {
				return 0, err
			}
		}
		roundTrips.Add(1)
		tag, err := t.conn.Exec(ctx, q)
		return tag.RowsAffected(), err
	}
	br, err := t.send(ctx, q, args)
	if err != nil {
		return 0, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag.RowsAffected(), err
}

func (t *pgTx) query(ctx context.Context, q string, args ...any) (rows, error) {
	br, err := t.send(ctx, q, args)
	if err != nil {
		return nil, err
	}
	r, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &batchRows{Rows: r, br: br}, nil
}

func (t *pgTx) queryRow(ctx context.Context, q string, args ...any) row {
	br, err := t.send(ctx, q, args)
	if err != nil {
		return errRow{err}
	}
	return &batchRow{row: br.QueryRow(), br: br}
}

// commit sends the queued statements and COMMIT in one round trip.
func (t *pgTx) commit(ctx context.Context) error {
	if !t.begun && len(t.queued) == 0 {
		return nil // nothing was asked of the database
	}
	br, err := t.send(ctx, "COMMIT", nil)
	if err != nil {
		return err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil && tag.String() != "COMMIT" {
		err = fmt.Errorf("commit: the transaction was rolled back (%s)", tag.String())
	}
	return err
}

// rollback ends a begun transaction; a connection it cannot clean is
// destroyed by the pool on release.
func (t *pgTx) rollback() {
	if !t.begun || t.conn.Conn().IsClosed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = t.conn.Exec(ctx, "ROLLBACK")
}

// txOnce runs fn in one pipelined transaction on a connection of its own.
func (b *pgBackend) txOnce(ctx context.Context, fn func(q querier) error) (err error) {
	conn, err := b.pgPool.Acquire(ctx)
	if err != nil {
		return err
	}
	t := &pgTx{conn: conn, blamed: -1}
	done := false
	defer func() {
		if !done {
			t.rollback() // fn failed or panicked, or the commit failed
		}
		conn.Release()
	}()
	if err := fn(t); err != nil {
		return err
	}
	if err := t.commit(ctx); err != nil {
		return err
	}
	done = true
	return nil
}

type batchRows struct {
	pgx.Rows
	br pgx.BatchResults
}

func (r *batchRows) Close() {
	r.Rows.Close()
	_ = r.br.Close()
}

type batchRow struct {
	row pgx.Row
	br  pgx.BatchResults
}

func (r *batchRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
