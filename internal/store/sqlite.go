package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteBackend runs the store of one app on one SQLite file (the file's
// meta table records the app; opening it for another app fails, see
// openSQLite) through one connection:
// transactions are BEGIN IMMEDIATE, so they serialize in this process and
// other processes wait on busy_timeout. Because there is one connection, a
// function passed to InTx must use only its Tx: calling the Store's own
// methods from inside it waits for the connection the transaction holds.
// Wakeups reach subscribers of the same Store value only.
type sqliteBackend struct {
	db          *sql.DB
	hub         hub
	stmts       stmtCache
	synchronous string // the connection's PRAGMA synchronous level, restored after light transactions

	// Group commit (inTx): transactions asked for while one runs wait;
	// the caller that found none running commits them together.
	group groupQueue
}

func openSQLite(ctx context.Context, path, app string, o options) (Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open sqlite: invalid path %q", path)
	}
	dsn := "file:" + path + "?_txlock=immediate&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	b := &sqliteBackend{db: db}
	// One leader: the file has one writer.
	b.group = groupQueue{max: maxGroup, commit: b.commitGroup, mayLead: func(leaders, _ int) bool { return leaders == 0 }}
	var held string
	err = b.inTx(ctx, func(q querier) error {
		if err := migrate(ctx, q, sqliteDialect.name); err != nil {
			return err
		}
		var err error
		held, err = claimApp(ctx, q, app)
		if err == nil && held != app {
			err = errOtherApp // roll back: nothing is written to another app's file
		}
		return err
	})
	if errors.Is(err, errOtherApp) {
		db.Close()
		return nil, fmt.Errorf("sqlite file %q holds app %q, not %q", path, held, app)
	}
	if err == nil {
		var level int
		err = db.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&level)
		b.synchronous = strconv.Itoa(level)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: provision: %w", path, err)
	}
	return &sqlStore{d: &sqliteDialect, b: b, app: app, now: o.now}, nil
}

// busyRetryWindow bounds how long inTx keeps retrying a BEGIN IMMEDIATE that
// reports SQLITE_BUSY after busy_timeout (a writer in another connection or
// process starved this one).
const busyRetryWindow = time.Minute

// inTx runs fn in a transaction. The file has one writer, so transactions
// asked for from many goroutines at once are committed together: the caller
// that finds no commit running leads, and runs every waiting function in one
// transaction, each inside a savepoint of its own (a function that fails
// rolls back to its savepoint and fails alone), then commits once, paying
// one commit (one sync of the log) for them all. A lone transaction runs as
// before, with no wait added.
func (b *sqliteBackend) inTx(ctx context.Context, fn func(q querier) error) error {
	return b.group.run(ctx, fn)
}

// maxGroup bounds the functions one group commit runs.
const maxGroup = 64

func (b *sqliteBackend) commitGroup(group []*groupReq) {
	if len(group) == 1 {
		r := group[0]
		b.stmts.prepareWanted(r.ctx, b.db)
		r.done <- guard(func() error { return runTx(r.ctx, b.db, &b.stmts, r.fn) })
		return
	}
	b.group.grouped.Add(int64(len(group)))
	ctx := context.WithoutCancel(group[0].ctx)
	b.stmts.prepareWanted(ctx, b.db)
	errs := make([]error, len(group))
	ok := false
	err := runTx(ctx, b.db, &b.stmts, func(q querier) error {
		for i, r := range group {
			if err := r.ctx.Err(); err != nil {
				errs[i] = err
				continue
			}
			if _, err := q.exec(ctx, `SAVEPOINT grp`); err != nil {
				return err
			}
			errs[i] = guard(func() error { return r.fn(q) })
			if errs[i] != nil {
				if _, err := q.exec(ctx, `ROLLBACK TO grp`); err != nil {
					return err
				}
			}
			if _, err := q.exec(ctx, `RELEASE grp`); err != nil {
				return err
			}
			ok = ok || errs[i] == nil
		}
		if !ok {
			return errNothingCommitted
		}
		return nil
	})
	for i, r := range group {
		switch {
		case errs[i] != nil:
			r.done <- errs[i]
		case err != nil:
			r.done <- err
		default:
			r.done <- nil
		}
	}
}

// errNothingCommitted rolls back a group whose every function failed.
var errNothingCommitted = errors.New("no function of the group succeeded")

// guard turns a panic of fn into an error, so one caller's panic cannot
// leave the group's leader (another caller) stuck.
func guard(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("transaction function panicked: %v", r)
		}
	}()
	return fn()
}

// runTx runs fn in a transaction begun on db (the pool or one held
// connection), retrying a BEGIN IMMEDIATE that stays busy.
func runTx(ctx context.Context, db interface {
	BeginTx(context.Context, *sql.TxOptions) (*sql.Tx, error)
}, stmts *stmtCache, fn func(q querier) error) error {
	tx, err := db.BeginTx(ctx, nil)
	for start := time.Now(); isBusy(err) && time.Since(start) < busyRetryWindow; {
		t := time.NewTimer(10 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		tx, err = db.BeginTx(ctx, nil)
	}
	if err != nil {
		return err
	}
	// Rolled back however fn ends, a panic included: SQLite has one
	// connection, and a transaction left open would hold it forever.
	defer func() { _ = tx.Rollback() }() // after Commit: sql.ErrTxDone, ignored
	if err := fn(sqliteTxQuerier{tx: tx, stmts: stmts}); err != nil {
		return err
	}
	return tx.Commit()
}

// inLightTx runs fn in a transaction whose commit does not wait for fsync
// (synchronous=NORMAL in WAL mode: it is durable once any later commit
// syncs the log, and survives a process crash, not a power loss). Claims use
// it: a lost lease only lets a task be claimed again. The connection's own
// setting is restored before it serves anything else; if that fails, the
// connection is discarded.
func (b *sqliteBackend) inLightTx(ctx context.Context, fn func(q querier) error) error {
	b.stmts.prepareWanted(ctx, b.db)
	conn, err := b.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err != nil {
		return err
	}
	txErr := runTx(ctx, conn, &b.stmts, fn)
	if _, err := conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA synchronous = `+b.synchronous); err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		return errors.Join(txErr, fmt.Errorf("restore synchronous: %w", err))
	}
	return txErr
}

func (b *sqliteBackend) pool() querier             { return sqlQuerier{b.db} }
func (b *sqliteBackend) committed(queues []string) { b.hub.broadcast(queues) }
func (b *sqliteBackend) close() error {
	b.stmts.close()
	return b.db.Close()
}
func (b *sqliteBackend) wakeups(ctx context.Context) (<-chan string, error) {
	return b.hub.subscribe(ctx), nil
}

func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// hub broadcasts queue names to in-process subscribers.
type hub struct {
	mu   sync.Mutex
	subs map[chan string]struct{}
}

func (h *hub) subscribe(ctx context.Context) chan string {
	ch := make(chan string, 64)
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[chan string]struct{}{}
	}
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	go func() {
		<-ctx.Done()
		h.mu.Lock()
		delete(h.subs, ch)
		close(ch)
		h.mu.Unlock()
	}()
	return ch
}

// send delivers q to one subscriber if it is still subscribed, without
// blocking.
func (h *hub) send(ch chan string, q string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[ch]; ok {
		select {
		case ch <- q:
		default:
		}
	}
}

// broadcast never blocks: a full subscriber misses the wakeup and catches up
// by polling.
func (h *hub) broadcast(queues []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		for _, q := range queues {
			select {
			case ch <- q:
			default:
			}
		}
	}
}

// stmtCache keeps the statements transactions run prepared on the SQLite
// connection: database/sql with modernc.org/sqlite otherwise parses every
// statement on every call. Preparing needs the one connection, which a
// running transaction holds, so a statement first seen in a transaction
// runs unprepared and is prepared before a later transaction begins.
type stmtCache struct {
	mu     sync.Mutex
	stmts  map[string]*sql.Stmt
	wanted map[string]bool
	closed bool
}

// maxCachedStmts bounds the cache (transactions run a fixed set of
// statements, plus one per index created).
const maxCachedStmts = 64

// get returns the prepared statement for q, or nil (q is then wanted).
func (c *stmtCache) get(q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.stmts[q]; st != nil {
		return st
	}
	if len(c.stmts)+len(c.wanted) < maxCachedStmts {
		if c.wanted == nil {
			c.wanted = map[string]bool{}
		}
		c.wanted[q] = true
	}
	return nil
}

// prepareWanted prepares the wanted statements; call it holding no
// transaction. The cache is not locked while preparing (a transaction on
// the connection may need it to finish). A statement that fails to prepare
// is not wanted again.
func (c *stmtCache) prepareWanted(ctx context.Context, db *sql.DB) {
	c.mu.Lock()
	if len(c.wanted) == 0 || c.closed {
		c.mu.Unlock()
		return
	}
	qs := make([]string, 0, len(c.wanted))
	for q := range c.wanted {
		qs = append(qs, q)
	}
	clear(c.wanted)
	c.mu.Unlock()
	for _, q := range qs {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			continue
		}
		c.mu.Lock()
		if c.closed || c.stmts[q] != nil {
			st.Close()
		} else {
			if c.stmts == nil {
				c.stmts = map[string]*sql.Stmt{}
			}
			c.stmts[q] = st
		}
		c.mu.Unlock()
	}
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, st := range c.stmts {
		st.Close()
	}
	c.stmts = nil
}

// sqliteTxQuerier runs a transaction's statements through the cache.
type sqliteTxQuerier struct {
	tx    *sql.Tx
	stmts *stmtCache
}

func (s sqliteTxQuerier) stmt(ctx context.Context, q string) *sql.Stmt {
	if st := s.stmts.get(q); st != nil {
		return s.tx.StmtContext(ctx, st)
	}
	return nil
}

func (s sqliteTxQuerier) exec(ctx context.Context, q string, args ...any) (int64, error) {
	st := s.stmt(ctx, q)
	if st == nil {
		return sqlQuerier{s.tx}.exec(ctx, q, args...)
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (s sqliteTxQuerier) later(ctx context.Context, what string, gone error, q string, args ...any) error {
	return runNow(ctx, s, what, gone, q, args)
}

func (s sqliteTxQuerier) pipelines() bool { return false }

func (s sqliteTxQuerier) query(ctx context.Context, q string, args ...any) (rows, error) {
	st := s.stmt(ctx, q)
	if st == nil {
		return sqlQuerier{s.tx}.query(ctx, q, args...)
	}
	r, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}

func (s sqliteTxQuerier) queryRow(ctx context.Context, q string, args ...any) row {
	st := s.stmt(ctx, q)
	if st == nil {
		return sqlQuerier{s.tx}.queryRow(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}
