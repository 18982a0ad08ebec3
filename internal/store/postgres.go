package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgBackend runs the store on a pgx pool whose connections have search_path
// set to the app's schema.
type pgBackend struct {
	pgPool  *pgxpool.Pool
	channel string
}

// txRetries bounds InTx attempts on serialization failures and deadlocks.
const txRetries = 5

func openPostgres(ctx context.Context, url, app string, o options) (Store, error) {
	schema := SchemaName(app)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres %s: %w", redact(url), err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres %s: %w", redact(url), err)
	}
	b := &pgBackend{pgPool: pool, channel: wakeupChannel(schema)}
	err = b.inTx(ctx, func(q querier) error {
		if _, err := q.exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey(b.channel)); err != nil {
			return err
		}
		if _, err := q.exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); err != nil {
			return err
		}
		return migrate(ctx, q, postgresDialect.name)
	})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres %s: provision schema %s: %w", redact(url), schema, err)
	}
	return &sqlStore{d: &postgresDialect, b: b, app: app, channel: b.channel, now: o.now}, nil
}

// wakeupChannel is the NOTIFY channel of a schema (at most 63 bytes).
func wakeupChannel(schema string) string {
	c := "memflow_" + schema
	if len(c) > 63 {
		c = fmt.Sprintf("memflow_%s_%016x", schema[:38], uint64(lockKey(schema)))
	}
	return c
}

func (b *pgBackend) inTx(ctx context.Context, fn func(q querier) error) error {
	var err error
	for attempt := 0; attempt < txRetries; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(time.Duration(attempt*attempt) * 5 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return err
			case <-t.C:
			}
		}
		err = pgx.BeginFunc(ctx, b.pgPool, func(tx pgx.Tx) error { return fn(pgxQuerier{tx}) })
		if !retryable(err) {
			return err
		}
	}
	return err
}

func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

func (b *pgBackend) pool() querier      { return pgxQuerier{b.pgPool} }
func (b *pgBackend) committed([]string) {} // NOTIFY was sent inside the transaction
func (b *pgBackend) close() error       { b.pgPool.Close(); return nil }

// wakeups LISTENs on a dedicated connection (not from the pool) until ctx
// ends, reconnecting after failures.
func (b *pgBackend) wakeups(ctx context.Context) (<-chan string, error) {
	conn, err := b.listen(ctx)
	if err != nil {
		return nil, fmt.Errorf("wakeups: %w", err)
	}
	ch := make(chan string, 64)
	go func() {
		defer close(ch)
		for {
			for conn != nil {
				n, err := conn.WaitForNotification(ctx)
				if err != nil {
					closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
					_ = conn.Close(closeCtx)
					cancel()
					conn = nil
					break
				}
				select {
				case ch <- n.Payload:
				default: // the consumer is behind; it polls anyway
				}
			}
			t := time.NewTimer(time.Second)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			conn, _ = b.listen(ctx)
		}
	}()
	return ch, nil
}

func (b *pgBackend) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, b.pgPool.Config().ConnConfig)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{b.channel}.Sanitize()); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return conn, nil
}
