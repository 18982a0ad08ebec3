package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// querier is the little both drivers share: pgx (pool or tx) and
// database/sql (db or tx) are adapted to it so one implementation of the
// Store serves both dialects.
type querier interface {
	exec(ctx context.Context, q string, args ...any) (int64, error)
	// later runs a statement whose result is not read. A pipelining querier
	// (pgTx) sends it with the next statement that returns rows, or with
	// COMMIT, and its error surfaces there, wrapped with what; others run it
	// now. A statement that must change a row guards itself in SQL (see
	// guardSQL), so that on Postgres its failure aborts the transaction on
	// the server before the COMMIT sent after it can take effect: the guard's
	// error is reported as gone.
	later(ctx context.Context, what string, gone error, q string, args ...any) error
	// pipelines reports whether later defers statements.
	pipelines() bool
	query(ctx context.Context, q string, args ...any) (rows, error)
	queryRow(ctx context.Context, q string, args ...any) row
}

type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

type row interface{ Scan(dest ...any) error }

// pgxQuerier adapts *pgxpool.Pool and pgx.Tx.
type pgxQuerier struct {
	q interface {
		Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
		QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	}
}

func (p pgxQuerier) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := p.q.Exec(ctx, q, args...)
	return tag.RowsAffected(), err
}

func (p pgxQuerier) later(ctx context.Context, what string, gone error, q string, args ...any) error {
	return runNow(ctx, p, what, gone, q, args)
}

func (p pgxQuerier) pipelines() bool { return false }

// runNow is later for a querier that does not pipeline.
func runNow(ctx context.Context, q querier, what string, gone error, sql string, args []any) error {
	_, err := q.exec(ctx, sql, args...)
	return laterErr(what, gone, err)
}

// guardSQL wraps a data-changing statement so it fails, on Postgres, when it
// changed no row: the division by zero aborts the transaction on the server.
func guardSQL(q string) string {
	return `WITH changed AS (` + q + ` RETURNING 1) SELECT 1 / count(*) FROM changed`
}

// laterErr is the error of a statement run through later: its guard's
// (division by zero) reported as gone, others wrapped with what.
func laterErr(what string, gone error, err error) error {
	var pe *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case gone != nil && errors.As(err, &pe) && pe.Code == "22012":
		return fmt.Errorf("%s: %w", what, gone)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (p pgxQuerier) query(ctx context.Context, q string, args ...any) (rows, error) {
	return p.q.Query(ctx, q, args...)
}

func (p pgxQuerier) queryRow(ctx context.Context, q string, args ...any) row {
	return p.q.QueryRow(ctx, q, args...)
}

// sqlQuerier adapts *sql.DB and *sql.Tx.
type sqlQuerier struct {
	q interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
}

func (s sqlQuerier) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := s.q.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (s sqlQuerier) later(ctx context.Context, what string, gone error, q string, args ...any) error {
	return runNow(ctx, s, what, gone, q, args)
}

func (s sqlQuerier) pipelines() bool { return false }

func (s sqlQuerier) query(ctx context.Context, q string, args ...any) (rows, error) {
	r, err := s.q.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}

func (s sqlQuerier) queryRow(ctx context.Context, q string, args ...any) row {
	return s.q.QueryRowContext(ctx, q, args...)
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows) }

// timeCol scans a time stored as timestamptz (Postgres) or unix nanoseconds
// (SQLite); NULL leaves the time zero and valid false.
type timeCol struct {
	t     time.Time
	valid bool
}

func (c *timeCol) Scan(src any) error {
	switch x := src.(type) {
	case nil:
		c.t, c.valid = time.Time{}, false
	case time.Time:
		c.t, c.valid = x.UTC(), true
	case int64:
		c.t, c.valid = time.Unix(0, x).UTC(), true
	default:
		return errors.New("unsupported time column type")
	}
	return nil
}

func (c timeCol) ptr() *time.Time {
	if !c.valid {
		return nil
	}
	t := c.t
	return &t
}

// jsonCol scans a JSON column (jsonb or TEXT); NULL scans as nil.
type jsonCol struct{ dst *json.RawMessage }

func (c jsonCol) Scan(src any) error {
	switch x := src.(type) {
	case nil:
		*c.dst = nil
	case []byte:
		*c.dst = append(json.RawMessage(nil), x...)
	case string:
		*c.dst = json.RawMessage(x)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return err
		}
		*c.dst = b
	}
	return nil
}
