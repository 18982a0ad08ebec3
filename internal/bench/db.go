package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/memflow/memflow/internal/store"
	_ "modernc.org/sqlite" // the "sqlite" driver, as the store uses it
)

// rawDB reaches the bench database directly, beside the engine: to count
// history rows and commits and to measure the database's own limit.
type rawDB struct {
	t    *target
	pg   *pgxpool.Pool // Postgres
	lite *sql.DB       // SQLite
}

// openRaw opens conns connections to t's database.
func openRaw(ctx context.Context, t *target, conns int) (*rawDB, error) {
	r := &rawDB{t: t}
	if t.dialect == "postgres" {
		cfg, err := pgxpool.ParseConfig(t.rawURL)
		if err != nil {
			return nil, fmt.Errorf("bench: database url: %w", err)
		}
		cfg.MaxConns, cfg.MinConns = int32(conns), int32(conns)
		if r.pg, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
			return nil, fmt.Errorf("bench: connect: %w", err)
		}
		return r, nil
	}
	db, err := sql.Open("sqlite", "file:"+t.path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return nil, fmt.Errorf("bench: open %s: %w", t.path, err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	r.lite = db
	return r, nil
}

func (r *rawDB) close() {
	if r.pg != nil {
		r.pg.Close()
	}
	if r.lite != nil {
		r.lite.Close()
	}
}

// schema is the quoted Postgres schema of the bench app.
func (r *rawDB) schema() string { return pgx.Identifier{store.SchemaName(r.t.app)}.Sanitize() }

// countHistory counts the history rows of the given workflows.
func (r *rawDB) countHistory(ctx context.Context, ids []string) (int64, error) {
	var n int64
	var err error
	if r.pg != nil {
		err = r.pg.QueryRow(ctx, `SELECT count(*) FROM `+r.schema()+`.history WHERE job_id = ANY($1)`, ids).Scan(&n)
	} else {
		b, _ := json.Marshal(ids)
		err = r.lite.QueryRowContext(ctx, `SELECT count(*) FROM history WHERE job_id IN (SELECT value FROM json_each(?))`, string(b)).Scan(&n)
	}
	if err != nil {
		return 0, fmt.Errorf("bench: count history: %w", err)
	}
	return n, nil
}

// xactCommit is the database's committed transaction count (Postgres).
func (r *rawDB) xactCommit(ctx context.Context) (int64, error) {
	var n int64
	err := r.pg.QueryRow(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("bench: read pg_stat_database: %w", err)
	}
	return n, nil
}

// commitCounter measures the commits of a window: pg_stat_database deltas on
// Postgres; SQLite keeps no such count, so there it reports -1.
type commitCounter struct {
	t      *target
	db     *rawDB
	before int64
}

func newCommitCounter(ctx context.Context, t *target) (*commitCounter, error) {
	c := &commitCounter{t: t}
	if t.dialect != "postgres" {
		return c, nil
	}
	db, err := openRaw(ctx, t, 1)
	if err != nil {
		return nil, err
	}
	c.db = db
	return c, nil
}

func (c *commitCounter) close() {
	if c.db != nil {
		c.db.close()
		c.db = nil
	}
}

func (c *commitCounter) begin(ctx context.Context) error {
	if c.db == nil {
		return nil
	}
	var err error
	c.before, err = c.db.xactCommit(ctx)
	return err
}

// end reads the count again once the engine's connections closed. Backends
// publish their counts as they exit, so it reads until two reads agree.
func (c *commitCounter) end(ctx context.Context) (int64, error) {
	if c.db == nil {
		return -1, nil
	}
	c.close() // its own read is then counted: one commit to subtract
	r, err := openRaw(ctx, c.t, 1)
	if err != nil {
		return 0, err
	}
	defer r.close()
	last := int64(-1)
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := r.xactCommit(ctx)
		if err != nil {
			return 0, err
		}
		if n == last || time.Now().After(deadline) {
			return n - c.before - 1, nil
		}
		last = n
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// maxConns bounds the Postgres connections a bench opens, for its engine's
// pool and for the database limit: Postgres admits 100 clients by default,
// and past a few per core more connections add no commits, only waiting.
const maxConns = 64

// dbLimit measures the commit rate of single-row JSON inserts into a scratch
// table: conns connections (one on SQLite, which admits one writer at a time
// and which memflow's store drives through one connection), each inserting
// one row per transaction for d.
func dbLimit(ctx context.Context, t *target, conns int, d time.Duration, progress func(Progress)) (float64, error) {
	conns = min(conns, maxConns)
	if t.dialect != "postgres" {
		conns = 1
	}
	r, err := openRaw(ctx, t, conns)
	if err != nil {
		return 0, err
	}
	defer r.close()
	table := "bench_limit_" + randomHex(4)
	var create, insert, drop string
	if r.pg != nil {
		table = r.schema() + "." + table
		create = `CREATE TABLE ` + table + ` (id bigserial PRIMARY KEY, doc jsonb NOT NULL)`
		insert = `INSERT INTO ` + table + ` (doc) VALUES ($1)`
	} else {
		create = `CREATE TABLE ` + table + ` (id INTEGER PRIMARY KEY, doc TEXT NOT NULL)`
		insert = `INSERT INTO ` + table + ` (doc) VALUES (?)`
	}
	drop = `DROP TABLE IF EXISTS ` + table
	if r.pg != nil {
		_, err = r.pg.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+r.schema())
		if err == nil {
			_, err = r.pg.Exec(ctx, create)
		}
	} else {
		_, err = r.lite.ExecContext(ctx, create)
	}
	if err != nil {
		return 0, fmt.Errorf("bench: db limit: create scratch table: %w", err)
	}
	defer func() {
		dctx := context.WithoutCancel(ctx)
		if r.pg != nil {
			_, _ = r.pg.Exec(dctx, drop)
		} else {
			_, _ = r.lite.ExecContext(dctx, drop)
		}
	}()
	exec := func(ctx context.Context, doc string) error {
		if r.pg != nil {
			_, err := r.pg.Exec(ctx, insert, doc)
			return err
		}
		_, err := r.lite.ExecContext(ctx, insert, doc)
		return err
	}
	var n atomic.Int64
	var firstErr error
	var once sync.Once
	begin := time.Now()
	end := begin.Add(d)
	stop := progressLoop(progress, "db-limit", 0, begin, n.Load)
	var wg sync.WaitGroup
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(end); i++ {
				doc := fmt.Sprintf(`{"conn":%d,"i":%d,"payload":{"ok":true,"items":[1,2,3]}}`, w, i)
				if err := exec(ctx, doc); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(begin)
	stop()
	if firstErr != nil {
		return 0, fmt.Errorf("bench: db limit: insert: %w", firstErr)
	}
	return float64(n.Load()) / elapsed.Seconds(), nil
}

// dropSchema removes a fresh bench app's Postgres schema.
func dropSchema(ctx context.Context, t *target) {
	r, err := openRaw(ctx, t, 1)
	if err != nil {
		return
	}
	defer r.close()
	// Concurrent catalogue changes by other clients can make a DROP fail
	// (deadlock); try again a few times.
	for range 3 {
		if _, err := r.pg.Exec(ctx, `DROP SCHEMA IF EXISTS `+r.schema()+` CASCADE`); err == nil {
			return
		}
	}
}
