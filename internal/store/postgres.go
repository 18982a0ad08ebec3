package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgBackend runs the store on a pgx pool whose connections have search_path
// set to the app's schema.
//
// Wakeups travel two ways after a commit: at once in-process (hub), and to
// other processes by NOTIFY, sent by a background loop that coalesces the
// queues of many commits into one short transaction with an asynchronous
// commit. NOTIFY inside the enqueuing transactions would serialize their
// commits on Postgres's notification lock, WAL flush included.
type pgBackend struct {
	pgPool  *pgxpool.Pool
	channel string
	hub     hub

	mu         sync.Mutex
	ownPIDs    map[uint32]bool // backends LISTENing for this process
	othersSeen time.Time       // when othersListen last asked the database
	others     bool            // its answer
	pending    map[string]bool // queues to announce
	kick       chan struct{}   // cap 1: pending is not empty
	stopNotify context.CancelFunc
	notifyDone chan struct{}

	group groupQueue // group commit (inTx)
}

// claimJobsSQL wraps a claim statement so it also returns each task's job
// (empty id when the job is gone), in one statement.
func claimJobsSQL(claim string) string {
	return `WITH c AS (` + claim + `)
SELECT c.*, COALESCE(j.id, ''), COALESCE(j.entity, ''), j.context, COALESCE(j.status, ''), COALESCE(j.flow, ''),
COALESCE(j.version, ''), COALESCE(j.task_queue, ''), j.input, j.state, j.result, COALESCE(j.error, ''),
j.created_at, j.updated_at, j.completed_at, COALESCE(j.root_id, j.id, ''), COALESCE(j.parent_id, ''), COALESCE(j.depth, 0), COALESCE(j.rev, 0)
FROM c LEFT JOIN jobs j ON j.id = c.job_id`
}

// claim runs a claim transaction in one round trip: BEGIN, prelude, the
// claim (with its jobs when withJobs) and COMMIT sent as one pipeline.
func (b *pgBackend) claim(ctx context.Context, prelude, q string, args []any, withJobs bool) ([]Task, error) {
	if withJobs {
		q = claimJobsSQL(q)
	}
	var err error
	for attempt := 0; attempt < txRetries; attempt++ {
		var out []Task
		out, err = b.claimOnce(ctx, prelude, q, args, withJobs)
		if !retryable(err) {
			return out, err
		}
	}
	return nil, err
}

func (b *pgBackend) claimOnce(ctx context.Context, prelude, q string, args []any, withJobs bool) ([]Task, error) {
	batch := &pgx.Batch{}
	batch.Queue("BEGIN")
	if prelude != "" {
		batch.Queue(prelude)
	}
	batch.Queue(q, args...)
	batch.Queue("COMMIT")
	roundTrips.Add(1)
	br := b.pgPool.SendBatch(ctx, batch)
	defer br.Close() // a connection left in a failed transaction is discarded by the pool
	for range batch.Len() - 2 {
		if _, err := br.Exec(); err != nil {
			return nil, err
		}
	}
	r, err := br.Query()
	if err != nil {
		return nil, err
	}
	var out []Task
	for r.Next() {
		var j Job
		var jc, ju, jd timeCol
		var dest []any
		if withJobs {
			dest = []any{&j.ID, &j.Entity, jsonCol{&j.Context}, &j.Status, &j.Flow, &j.Version, &j.TaskQueue,
				jsonCol{&j.Input}, jsonCol{&j.State}, jsonCol{&j.Result}, &j.Error, &jc, &ju, &jd, &j.Root, &j.Parent, &j.Depth, &j.Rev}
		}
		t, err := scanTask(r, dest...)
		if err != nil {
			r.Close()
			return nil, err
		}
		if j.ID != "" {
			j.CreatedAt, j.UpdatedAt, j.CompletedAt = jc.t, ju.t, jd.ptr()
			t.Job = &j
		}
		out = append(out, t)
	}
	r.Close()
	if err := r.Err(); err != nil {
		return nil, err
	}
	if _, err := br.Exec(); err != nil {
		return nil, err
	}
	return out, br.Close()
}

// pgAppendHistory inserts events in one statement, sent with the
// transaction's next statement or its commit: each job's rows take the
// sequence numbers after its current last, in the events' order.
func pgAppendHistory(ctx context.Context, q querier, events []HistoryEvent) error {
	return q.later(ctx, "append history", nil, pgHistorySQL(1), pgHistoryArgs(events)...)
}

// pgHistorySQL inserts the events of pgHistoryArgs bound from $first on,
// numbered after each job's last.
func pgHistorySQL(first int) string {
	return fmt.Sprintf(`INSERT INTO history (job_id, seq, at, kind, thread, step, state, detail, patch)
SELECT e.job_id, COALESCE((SELECT MAX(h.seq) FROM history h WHERE h.job_id = e.job_id), 0)
       + row_number() OVER (PARTITION BY e.job_id ORDER BY e.ord),
       e.at, e.kind, e.thread, e.step, e.state, e.detail::jsonb, e.patch::jsonb
FROM unnest($%d::text[], $%d::timestamptz[], $%d::text[], $%d::text[], $%d::text[], $%d::int[], $%d::text[], $%d::text[])
     WITH ORDINALITY AS e(job_id, at, kind, thread, step, state, detail, patch, ord)`,
		first, first+1, first+2, first+3, first+4, first+5, first+6, first+7)
}

func pgHistoryArgs(events []HistoryEvent) []any {
	n := len(events)
	jobs, kinds, threads, steps := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ats, states, details, patches := make([]time.Time, n), make([]int32, n), make([]*string, n), make([]*string, n)
	for i, e := range events {
		jobs[i], kinds[i], threads[i], steps[i] = e.JobID, e.Kind, e.Thread, e.Step
		ats[i], states[i] = e.At.UTC(), int32(e.State)
		if e.Detail != nil {
			d := string(e.Detail)
			details[i] = &d
		}
		if e.Patch != nil {
			p := string(e.Patch)
			patches[i] = &p
		}
	}
	return []any{jobs, ats, kinds, threads, steps, states, details, patches}
}

// pgWriteTransition folds a transition's writes into one statement: the
// job's insert or update, the deletion of its tasks, the new tasks and the
// history rows, each a data-modifying WITH clause. They see one snapshot,
// so the deletion never meets the tasks inserted beside it (a transition
// that drops its job's tasks enqueues none for that job).
func pgWriteTransition(job string, args []any, w Transition) (string, []any) {
	var b strings.Builder
	fmt.Fprintf(&b, "WITH changed AS (%s RETURNING 1)", job)
	if w.DropTasks {
		args = append(args, w.Job.ID)
		fmt.Fprintf(&b, ",\ndropped AS (DELETE FROM tasks WHERE job_id = $%d)", len(args))
	}
	if n := len(w.Tasks); n > 0 {
		ids, jobs, queues, kinds := make([]int64, n), make([]string, n), make([]string, n), make([]string, n)
		payloads, dues, attempts := make([]*string, n), make([]time.Time, n), make([]int32, n)
		leases, workers := make([]*time.Time, n), make([]*string, n)
		for i, tk := range w.Tasks {
			ids[i], jobs[i], queues[i], kinds[i], dues[i] = tk.ID, tk.JobID, tk.Queue, tk.Kind, tk.DueAt.UTC()
			if tk.Payload != nil {
				p := string(tk.Payload)
				payloads[i] = &p
			}
			if tk.Worker != "" {
				lease, worker := tk.LeaseUntil.UTC(), tk.Worker
				attempts[i], leases[i], workers[i] = int32(tk.Attempts), &lease, &worker
			}
		}
		first := len(args) + 1
		args = append(args, ids, jobs, queues, kinds, payloads, dues, attempts, leases, workers)
		fmt.Fprintf(&b, `,
enqueued AS (INSERT INTO tasks (id, job_id, queue, kind, payload, due_at, attempts, lease_until, worker)
SELECT t.id, t.job_id, t.queue, t.kind, t.payload::jsonb, t.due_at, t.attempts, t.lease_until, t.worker
FROM unnest($%d::bigint[], $%d::text[], $%d::text[], $%d::text[], $%d::text[], $%d::timestamptz[], $%d::int[], $%d::timestamptz[], $%d::text[])
     AS t(id, job_id, queue, kind, payload, due_at, attempts, lease_until, worker))`,
			first, first+1, first+2, first+3, first+4, first+5, first+6, first+7, first+8)
	}
	if len(w.History) > 0 {
		first := len(args) + 1
		args = append(args, pgHistoryArgs(w.History)...)
		fmt.Fprintf(&b, ",\nappended AS (%s)", pgHistorySQL(first))
	}
	b.WriteString("\nSELECT 1 / count(*) FROM changed")
	return b.String(), args
}

// notifyEvery is the shortest interval between two NOTIFY transactions.
const notifyEvery = 5 * time.Millisecond

// txRetries bounds InTx attempts on serialization failures and deadlocks.
const txRetries = 5

func openPostgres(ctx context.Context, url, app string, o options) (Store, error) {
	schema := SchemaName(app)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	if _, set := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !set {
		// Every statement is prepared once per connection with its values
		// bound; Postgres' custom plans, made anew for an execution whenever
		// they look cheaper, took a one-activity workflow at one caller
		// from a p50 of 1.5-1.7 ms to 2.4-2.7 ms (BENCHMARKS.md). The plans
		// are the same for every value: lookups by key, and Find's
		// conditions name their entity type literally, so its partial
		// indexes are used (TestPostgresFindUsesIndex checks the generic
		// plan). A URL that sets plan_cache_mode keeps its own.
		cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	b := &pgBackend{pgPool: pool, channel: wakeupChannel(schema), pending: map[string]bool{},
		kick: make(chan struct{}, 1), notifyDone: make(chan struct{})}
	b.group = groupQueue{max: pgMaxGroup, commit: b.commitGroup, mayLead: pgMayLead}
	var held string
	err = b.inTx(ctx, func(q querier) error {
		if _, err := q.exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey(b.channel)); err != nil {
			return err
		}
		if _, err := q.exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); err != nil {
			return err
		}
		if err := migrate(ctx, q, postgresDialect.name); err != nil {
			return err
		}
		var err error
		held, err = claimApp(ctx, q, app)
		if err == nil && held != app {
			err = errOtherApp // roll back: nothing is written to another app's schema
		}
		return err
	})
	if errors.Is(err, errOtherApp) {
		pool.Close()
		return nil, fmt.Errorf("postgres schema %q holds app %q, not %q (app ids that differ only in '-' and '_' share a schema name; choose another app id)", schema, held, app)
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres: provision schema %s: %w", schema, err)
	}
	nctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	b.stopNotify = stop
	go b.notifyLoop(nctx)
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

// pgLeaders bounds the groups committing at once, each on a connection of
// its own; pgMaxGroup bounds the functions of one group; a caller starts
// another group beside the running ones only when more than pgCrowd
// functions wait (measured in BENCHMARKS.md, "Postgres group commit").
const (
	pgLeaders  = 4
	pgMaxGroup = 16
	pgCrowd    = 4
)

// inTx runs fn in a transaction. Transactions asked for from many
// goroutines at once are committed in groups: the first caller leads, and
// runs the waiting functions one after the other in one transaction with
// one commit; their statements share round trips (pgTx pipelines each
// function's writes with the next one's first read) and the commit. A
// function that fails (or panics) is taken out and the rest of the group
// runs again without it; it then runs in a transaction of its own, so one
// function's failure never undoes another's work. A lone transaction runs at
// once, with no wait added.
func (b *pgBackend) inTx(ctx context.Context, fn func(q querier) error) error {
	return b.group.run(ctx, fn)
}

// pgMayLead: one leader takes all; another starts only when a crowd waits,
// so groups form instead of many lone transactions.
func pgMayLead(leaders, waiting int) bool {
	return leaders == 0 || leaders < pgLeaders && waiting > pgCrowd
}

func (b *pgBackend) commitGroup(group []*groupReq) {
	var alone []*groupReq // run in transactions of their own
	if len(group) > 1 {
		live := group[:0:0]
		for _, r := range group {
			if err := r.ctx.Err(); err != nil {
				r.done <- err
				continue
			}
			live = append(live, r)
		}
		group = live
	}
	size := len(group)
	for len(group) > 1 {
		if len(alone) > size/3 {
			// Too many fail: each runs alone rather than the group again.
			alone, group = append(alone, group...), nil
			break
		}
		failed := -1
		var pt *pgTx
		ctx, cancel := context.WithTimeout(context.WithoutCancel(group[0].ctx), groupTimeout)
		err := b.txOnce(ctx, func(q querier) error {
			pt, _ = q.(*pgTx)
			for i, r := range group {
				if pt != nil {
					pt.owner = i
				}
				if err := guard(func() error { return r.fn(q) }); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		cancel()
		if err != nil && pt != nil && pt.blamed >= 0 {
			// A write queued by an earlier function failed, reported at a
			// later one's read or at the commit.
			failed = pt.blamed
		}
		if err == nil {
			b.group.grouped.Add(int64(len(group)))
			for _, r := range group {
				r.done <- nil
			}
			group = nil
			break
		}
		if failed < 0 { // the commit failed: nobody can be blamed
			alone, group = append(alone, group...), nil
			break
		}
		// The function that failed runs alone; the rest try again
		// together.
		alone = append(alone, group[failed])
		group = append(group[:failed:failed], group[failed+1:]...)
	}
	for _, r := range append(alone, group...) {
		r.done <- guard(func() error { return b.txAlone(r.ctx, r.fn) })
	}
}

// groupTimeout bounds one group transaction; a group that takes longer is
// rolled back and its functions run alone under their own deadlines.
const groupTimeout = 10 * time.Second

// txAlone runs fn in a transaction of its own, again after a serialization
// failure or a deadlock.
func (b *pgBackend) txAlone(ctx context.Context, fn func(q querier) error) error {
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
		err = b.txOnce(ctx, fn)
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

func (b *pgBackend) pool() querier { return pgxQuerier{b.pgPool} }

func (b *pgBackend) close() error {
	b.stopNotify()
	<-b.notifyDone
	b.pgPool.Close()
	return nil
}

// committed wakes this process's workers now and queues a NOTIFY for the
// others.
func (b *pgBackend) committed(queues []string) {
	b.hub.broadcast(queues)
	b.mu.Lock()
	for _, q := range queues {
		b.pending[q] = true
	}
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// notifyLoop sends the pending queues' NOTIFYs, at most once per
// notifyEvery, until ctx ends; then it sends what is left.
func (b *pgBackend) notifyLoop(ctx context.Context) {
	defer close(b.notifyDone)
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			b.sendNotifies(fctx)
			cancel()
			return
		case <-b.kick:
		}
		b.sendNotifies(ctx)
		t := time.NewTimer(notifyEvery)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// sendNotifies announces the pending queues in one transaction whose commit
// does not wait for the WAL flush (a lost NOTIFY only delays a worker to its
// next poll).
func (b *pgBackend) sendNotifies(ctx context.Context) {
	b.mu.Lock()
	queues := make([]string, 0, len(b.pending))
	for q := range b.pending {
		queues = append(queues, q)
	}
	clear(b.pending)
	b.mu.Unlock()
	if len(queues) == 0 {
		return
	}
	if !b.othersListen(ctx) {
		return // this process's workers were woken in-process
	}
	_ = pgx.BeginFunc(ctx, b.pgPool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit TO OFF`); err != nil {
			return err
		}
		for _, q := range queues {
			if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, b.channel, q); err != nil {
				return err
			}
		}
		return nil
	})
}

// wakeups LISTENs on a dedicated connection (not from the pool) until ctx
// ends, reconnecting after failures.
func (b *pgBackend) wakeups(ctx context.Context) (<-chan string, error) {
	conn, err := b.listen(ctx)
	if err != nil {
		return nil, fmt.Errorf("wakeups: %w", err)
	}
	ch := b.hub.subscribe(ctx)
	go func() {
		for {
			for conn != nil {
				n, err := conn.WaitForNotification(ctx)
				if err != nil {
					b.closeListener(ctx, conn)
					conn = nil
					break
				}
				b.hub.send(ch, n.Payload)
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
	if _, err := conn.Exec(ctx, b.listenSQL()); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	b.mu.Lock()
	if b.ownPIDs == nil {
		b.ownPIDs = map[uint32]bool{}
	}
	b.ownPIDs[conn.PgConn().PID()] = true
	b.mu.Unlock()
	return conn, nil
}

// closeListener closes a LISTEN connection of this process.
func (b *pgBackend) closeListener(ctx context.Context, conn *pgx.Conn) {
	b.mu.Lock()
	delete(b.ownPIDs, conn.PgConn().PID())
	b.mu.Unlock()
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	_ = conn.Close(closeCtx)
	cancel()
}

func (b *pgBackend) listenSQL() string { return "LISTEN " + pgx.Identifier{b.channel}.Sanitize() }

// othersListen reports whether a backend other than this process's own
// listeners LISTENs on the channel, asking pg_stat_activity at most once a
// second; when it cannot tell, the answer is yes. A worker that starts
// listening in between polls meanwhile, as it does for any missed wakeup.
func (b *pgBackend) othersListen(ctx context.Context) bool {
	b.mu.Lock()
	if time.Since(b.othersSeen) < time.Second {
		defer b.mu.Unlock()
		return b.others
	}
	own := make([]uint32, 0, len(b.ownPIDs))
	for pid := range b.ownPIDs {
		own = append(own, pid)
	}
	b.mu.Unlock()
	var n int
	err := b.pgPool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND NOT (pid = ANY($2::int[]))
  AND (query = $1 OR query = '<insufficient privilege>' OR state = 'disabled')`, b.listenSQL(), own).Scan(&n)
	others := err != nil || n > 0
	b.mu.Lock()
	b.others, b.othersSeen = others, time.Now()
	b.mu.Unlock()
	return others
}
