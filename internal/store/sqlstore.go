package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"
)

// backend is what differs between the drivers beyond SQL text: how a
// transaction runs, how wakeups travel, how the store closes.
type backend interface {
	// inTx runs fn in a transaction, retrying transient failures.
	inTx(ctx context.Context, fn func(q querier) error) error
	// pool runs single statements outside a transaction.
	pool() querier
	// committed is told the queues a committed transaction enqueued on.
	committed(queues []string)
	wakeups(ctx context.Context) (<-chan string, error)
	close() error
}

// sqlStore implements Store over a dialect and a backend.
type sqlStore struct {
	d       *dialect
	b       backend
	app     string
	channel string // wakeup channel name (Postgres)
	now     func() time.Time
	beats   beats // heartbeats written by claims (workers.go)
}

const jobCols = `id, entity, context, COALESCE(status, ''), COALESCE(flow, ''), COALESCE(version, ''),
COALESCE(task_queue, ''), input, state, result, COALESCE(error, ''), created_at, updated_at, completed_at,
COALESCE(root_id, id), COALESCE(parent_id, ''), depth, rev`

func (s *sqlStore) Dialect() string { return s.d.name }
func (s *sqlStore) App() string     { return s.app }
func (s *sqlStore) Close() error    { return s.b.close() }

func (s *sqlStore) InTx(ctx context.Context, fn func(tx Tx) error) error {
	var queues map[string]bool
	err := s.b.inTx(ctx, func(q querier) error {
		t := &sqlTx{s: s, q: q}
		if err := fn(t); err != nil {
			return err
		}
		queues = t.queues
		return nil
	})
	if err != nil {
		return err
	}
	if len(queues) > 0 {
		list := make([]string, 0, len(queues))
		for q := range queues {
			list = append(list, q)
		}
		s.b.committed(list)
	}
	return nil
}

func (s *sqlStore) Wakeups(ctx context.Context) (<-chan string, error) { return s.b.wakeups(ctx) }

func (s *sqlStore) ClaimTasks(ctx context.Context, p ClaimParams) ([]Task, error) {
	if p.Limit <= 0 {
		return nil, fmt.Errorf("claim tasks: limit %d must be positive", p.Limit)
	}
	if p.Lease <= 0 {
		return nil, fmt.Errorf("claim tasks: lease %s must be positive", p.Lease)
	}
	now := p.Now
	if now.IsZero() {
		now = s.now()
	}
	q, args := s.d.claimAny, []any{s.d.timeArg(now.Add(p.Lease)), p.Worker, s.d.timeArg(now), p.Limit}
	switch {
	case len(p.Queues) > 0 && p.Root != "":
		q, args = s.d.claimQueuesRoot, append(args, s.d.queuesArg(p.Queues), p.Root)
	case len(p.Queues) > 0:
		q, args = s.d.claimQueues, append(args, s.d.queuesArg(p.Queues))
	case p.Root != "":
		q, args = s.d.claimRoot, append(args, p.Root)
	}
	// Best effort: a heartbeat that cannot be written only makes commands
	// warn that nothing serves the queue; the claim goes on.
	_ = s.heartbeat(ctx, p, now)
	var out []Task
	var err error
	if pb, ok := s.b.(*pgBackend); ok {
		out, err = pb.claim(ctx, s.d.claimPrelude, q, args, p.WithJobs)
		if err != nil {
			return nil, fmt.Errorf("claim tasks: %w", err)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].DueAt.Before(out[j].DueAt) })
		return out, nil
	}
	run := s.b.inTx
	if lb, ok := s.b.(*sqliteBackend); ok {
		run = lb.inLightTx
	}
	err = run(ctx, func(tx querier) error {
		var err error
		if out, err = scanTasks(tx.query(ctx, q, args...)); err != nil || !p.WithJobs || len(out) == 0 {
			return err
		}
		return s.attachJobs(ctx, tx, out)
	})
	if err != nil {
		return nil, fmt.Errorf("claim tasks: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DueAt.Before(out[j].DueAt) })
	return out, nil
}

// attachJobs reads the jobs of tasks into Task.Job.
func (s *sqlStore) attachJobs(ctx context.Context, tx querier, tasks []Task) error {
	ids := make([]string, 0, len(tasks))
	for _, t := range tasks {
		ids = append(ids, t.JobID)
	}
	r, err := tx.query(ctx, `SELECT `+jobCols+` FROM jobs WHERE id `+s.d.inList, s.d.listArg(ids))
	if err != nil {
		return err
	}
	defer r.Close()
	jobs := make(map[string]*Job, len(ids))
	for r.Next() {
		j, err := scanJob(r)
		if err != nil {
			return err
		}
		jobs[j.ID] = j
	}
	if err := r.Err(); err != nil {
		return err
	}
	for i := range tasks {
		tasks[i].Job = jobs[tasks[i].JobID]
	}
	return nil
}

// scanTask reads one row of taskCols (then dest, if any).
func scanTask(r row, dest ...any) (Task, error) {
	var t Task
	var due, lease timeCol
	err := r.Scan(append([]any{&t.ID, &t.JobID, &t.Queue, &t.Kind, jsonCol{&t.Payload}, &due, &t.Attempts, &lease, &t.Worker}, dest...)...)
	t.DueAt, t.LeaseUntil = due.t, lease.t
	return t, err
}

func scanTasks(r rows, err error) ([]Task, error) {
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []Task
	for r.Next() {
		t, err := scanTask(r)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, r.Err()
}

func (s *sqlStore) GetJob(ctx context.Context, id string) (*Job, error) {
	return getJob(ctx, s.b.pool(), id, "")
}

func getJob(ctx context.Context, q querier, id, lock string) (*Job, error) {
	j, err := scanJob(q.queryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = $1`+lock, id))
	if isNoRows(err) {
		return nil, fmt.Errorf("get job %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get job %q: %w", id, err)
	}
	return j, nil
}

func scanJob(r row, extra ...any) (*Job, error) {
	var j Job
	var created, updated, completed timeCol
	err := r.Scan(append([]any{&j.ID, &j.Entity, jsonCol{&j.Context}, &j.Status, &j.Flow, &j.Version, &j.TaskQueue,
		jsonCol{&j.Input}, jsonCol{&j.State}, jsonCol{&j.Result}, &j.Error, &created, &updated, &completed,
		&j.Root, &j.Parent, &j.Depth, &j.Rev}, extra...)...)
	if err != nil {
		return nil, err
	}
	j.CreatedAt, j.UpdatedAt, j.CompletedAt = created.t, updated.t, completed.ptr()
	return &j, nil
}

func (s *sqlStore) History(ctx context.Context, jobID string) ([]HistoryEvent, error) {
	return scanHistory(jobID)(s.b.pool().query(ctx, `SELECT job_id, seq, at, kind, thread, step, state, detail
FROM history WHERE job_id = $1 ORDER BY seq`, jobID))
}

// scanHistory reads the rows of a history query of job jobID (columns
// job_id, seq, at, kind, thread, step, state, detail).
func scanHistory(jobID string) func(r rows, err error) ([]HistoryEvent, error) {
	return func(r rows, err error) ([]HistoryEvent, error) {
		if err != nil {
			return nil, fmt.Errorf("history %q: %w", jobID, err)
		}
		defer r.Close()
		var out []HistoryEvent
		for r.Next() {
			var e HistoryEvent
			var at timeCol
			if err := r.Scan(&e.JobID, &e.Seq, &at, &e.Kind, &e.Thread, &e.Step, &e.State, jsonCol{&e.Detail}); err != nil {
				return nil, fmt.Errorf("history %q: %w", jobID, err)
			}
			e.At = at.t
			out = append(out, e)
		}
		if err := r.Err(); err != nil {
			return nil, fmt.Errorf("history %q: %w", jobID, err)
		}
		return out, nil
	}
}

func (s *sqlStore) Find(ctx context.Context, entityType string, f Filter, p FindParams) ([]Job, error) {
	pg, err := s.FindPage(ctx, entityType, f, p)
	return pg.Jobs, err
}

// renderFind renders Find's query as the store runs it now: on SQLite,
// "contains" reads job_members when the array index exists.
func (s *sqlStore) renderFind(ctx context.Context, db querier, entityType string, f Filter, p FindParams) (found, error) {
	var lookErr error
	var arrayIdx func(string) bool
	if s.d.hasArrayIndex != nil {
		arrayIdx = func(name string) bool {
			ok, err := s.d.hasArrayIndex(ctx, db, name)
			if err != nil && lookErr == nil {
				lookErr = err
			}
			return ok
		}
	}
	fq, err := s.d.findQuery(entityType, f, p, arrayIdx)
	if err != nil {
		return fq, &queryError{err}
	}
	if lookErr != nil {
		err = fmt.Errorf("find %s: %w", entityType, lookErr)
	}
	return fq, err
}

// queryError is a Find the caller wrote wrong; it matches ErrQuery and
// what it wraps.
type queryError struct{ err error }

func (e *queryError) Error() string   { return e.err.Error() }
func (e *queryError) Unwrap() []error { return []error{e.err, ErrQuery} }

func (s *sqlStore) FindPage(ctx context.Context, entityType string, f Filter, p FindParams) (Page, error) {
	db := s.b.pool()
	fq, err := s.renderFind(ctx, db, entityType, f, p)
	if err != nil {
		return Page{}, err
	}
	r, err := db.query(ctx, fq.sql, fq.args...)
	if err != nil {
		return Page{}, fmt.Errorf("find %s: %w", entityType, err)
	}
	defer r.Close()
	pg := Page{Jobs: []Job{}}
	var last cursor
	for r.Next() {
		var c cursor
		j, err := scanJob(r, &c.Rank, &c.Num, &c.Text)
		if err != nil {
			return Page{}, fmt.Errorf("find %s: %w", entityType, err)
		}
		if len(pg.Jobs) == fq.limit {
			c := last
			c.Query = fq.hash
			if p.Sort == "" {
				c.Rank, c.Num, c.Text = 0, "", ""
			}
			pg.Next = c.encode()
			break
		}
		c.ID = j.ID
		last = c
		pg.Jobs = append(pg.Jobs, *j)
	}
	if err := r.Err(); err != nil {
		return Page{}, fmt.Errorf("find %s: %w", entityType, err)
	}
	return pg, nil
}

// sqliteHasArrayIndex reports whether CreateArrayIndex made name: its
// insert trigger exists.
func sqliteHasArrayIndex(ctx context.Context, q querier, name string) (bool, error) {
	var n int
	if err := q.queryRow(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = $1`, name+"_ins").Scan(&n); err != nil {
		return false, fmt.Errorf("look up array index %s: %w", name, err)
	}
	return n > 0, nil
}

func (s *sqlStore) CreateArrayIndex(ctx context.Context, entityType, field string) error {
	ix, err := parseArrayIndex(entityType, field)
	if err != nil {
		return err
	}
	err = s.b.inTx(ctx, func(tx querier) error {
		if err := s.lockSchema(ctx, tx); err != nil {
			return err
		}
		if s.d.hasArrayIndex != nil {
			if ok, err := s.d.hasArrayIndex(ctx, tx, ix.name); err != nil || ok {
				return err
			}
		}
		for _, q := range s.d.arrayIndexSQL(ix) {
			if _, err := tx.exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create array index on %s(%s): %w", entityType, field, err)
	}
	return nil
}

func (s *sqlStore) CreateIndex(ctx context.Context, entityType, field string) error {
	q, err := s.d.indexSQL(entityType, field)
	if err != nil {
		return err
	}
	// Under the provisioning lock: concurrent CREATE INDEX IF NOT EXISTS of
	// the same name can otherwise collide in the catalogue.
	err = s.b.inTx(ctx, func(tx querier) error {
		if err := s.lockSchema(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, q); err != nil {
			return err
		}
		if s.d.afterIndex != "" {
			_, err := tx.exec(ctx, s.d.afterIndex)
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create index on %s(%s): %w", entityType, field, err)
	}
	return nil
}

// lockSchema takes the schema's advisory transaction lock (Postgres only).
func (s *sqlStore) lockSchema(ctx context.Context, tx querier) error {
	if s.d.name != postgresDialect.name {
		return nil
	}
	_, err := tx.exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey(s.channel))
	return err
}

const flowCols = `name, version, program, file, created_at`

func scanFlow(r row) (*FlowVersion, error) {
	var v FlowVersion
	var created timeCol
	if err := r.Scan(&v.Name, &v.Version, jsonCol{&v.Program}, &v.File, &created); err != nil {
		return nil, err
	}
	v.CreatedAt = created.t
	return &v, nil
}

func (s *sqlStore) GetFlowVersion(ctx context.Context, name, version string) (*FlowVersion, error) {
	v, err := scanFlow(s.b.pool().queryRow(ctx, `SELECT `+flowCols+` FROM flows WHERE name = $1 AND version = $2`, name, version))
	if isNoRows(err) {
		return nil, fmt.Errorf("flow %s version %s: %w", name, version, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("flow %s version %s: %w", name, version, err)
	}
	return v, nil
}

func (s *sqlStore) LatestFlowVersion(ctx context.Context, name string) (*FlowVersion, error) {
	v, err := scanFlow(s.b.pool().queryRow(ctx, `SELECT `+flowCols+` FROM flows WHERE name = $1
ORDER BY created_at DESC, `+s.flowOrder()+` DESC LIMIT 1`, name))
	if isNoRows(err) {
		return nil, fmt.Errorf("latest version of flow %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("latest version of flow %s: %w", name, err)
	}
	return v, nil
}

// flowOrder is the insertion-order column of flows.
func (s *sqlStore) flowOrder() string {
	if s.d.name == postgresDialect.name {
		return "ord"
	}
	return "rowid"
}

func (s *sqlStore) ListFlowVersions(ctx context.Context) ([]FlowVersion, error) {
	r, err := s.b.pool().query(ctx, `SELECT `+flowCols+` FROM flows ORDER BY name, created_at, `+s.flowOrder())
	if err != nil {
		return nil, fmt.Errorf("list flow versions: %w", err)
	}
	defer r.Close()
	var out []FlowVersion
	for r.Next() {
		v, err := scanFlow(r)
		if err != nil {
			return nil, fmt.Errorf("list flow versions: %w", err)
		}
		out = append(out, *v)
	}
	return out, r.Err()
}

func (s *sqlStore) SaveFlowVersion(ctx context.Context, v FlowVersion) error {
	if v.Name == "" || v.Version == "" {
		return fmt.Errorf("save flow version: name %q and version %q must not be empty", v.Name, v.Version)
	}
	if !json.Valid(v.Program) {
		return fmt.Errorf("save flow %s version %s: program is not valid JSON", v.Name, v.Version)
	}
	at := v.CreatedAt
	if at.IsZero() {
		at = s.now()
	}
	_, err := s.b.pool().exec(ctx, `INSERT INTO flows (name, version, program, file, created_at)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name, version) DO NOTHING`,
		v.Name, v.Version, s.d.jsonArg(v.Program), v.File, s.d.timeArg(at))
	if err != nil {
		return fmt.Errorf("save flow %s version %s: %w", v.Name, v.Version, err)
	}
	return nil
}

// sqlTx implements Tx on one transaction.
type sqlTx struct {
	s      *sqlStore
	q      querier
	queues map[string]bool // queues enqueued on, for wakeups after commit
}

func (t *sqlTx) InsertJob(ctx context.Context, j Job) (bool, error) {
	q, args, err := t.insertJob(j)
	if err != nil {
		return false, err
	}
	n, err := t.q.exec(ctx, q, args...)
	if err != nil {
		return false, fmt.Errorf("insert job %q: %w", j.ID, err)
	}
	return n == 1, nil
}

func (t *sqlTx) CreateJob(ctx context.Context, j Job) error {
	q, args, err := t.insertJob(j)
	if err != nil {
		return err
	}
	if t.q.pipelines() {
		return t.q.later(ctx, fmt.Sprintf("insert job %q", j.ID), ErrExists, guardSQL(q), args...)
	}
	n, err := t.q.exec(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("insert job %q: %w", j.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("insert job %q: %w", j.ID, ErrExists)
	}
	return nil
}

// insertJob is the statement that inserts j unless its id exists.
func (t *sqlTx) insertJob(j Job) (string, []any, error) {
	if j.ID == "" || j.Entity == "" {
		return "", nil, fmt.Errorf("insert job: id %q and entity %q must not be empty", j.ID, j.Entity)
	}
	doc := j.Context
	if len(doc) == 0 || string(doc) == "null" {
		doc = json.RawMessage(`{}`)
	}
	if err := checkJSON("context", doc); err != nil {
		return "", nil, fmt.Errorf("insert job %q: %w", j.ID, err)
	}
	status := j.Status
	if status == "" {
		status = StatusRunning
	}
	now := t.s.now()
	created := j.CreatedAt
	if created.IsZero() {
		created = now
	}
	d := t.s.d
	root := j.Root
	if root == "" {
		root = j.ID
	}
	var parent any
	if j.Parent != "" {
		parent = j.Parent
	}
	return `INSERT INTO jobs (id, entity, context, status, flow, version, task_queue, input, state,
result, error, created_at, updated_at, completed_at, root_id, parent_id, depth)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) ON CONFLICT (id) DO NOTHING`,
		[]any{j.ID, j.Entity, d.jsonArg(doc), status, j.Flow, j.Version, j.TaskQueue, d.jsonArg(j.Input),
			d.jsonArg(j.State), d.jsonArg(j.Result), j.Error, d.timeArg(created), d.timeArg(now), t.optTime(j.CompletedAt),
			root, parent, j.Depth}, nil
}

func (t *sqlTx) optTime(p *time.Time) any {
	if p == nil {
		return nil
	}
	return t.s.d.timeArg(*p)
}

func checkJSON(what string, b []byte) error {
	if len(b) > MaxDocumentBytes {
		return fmt.Errorf("%s: %d bytes: %w (limit %d bytes)", what, len(b), ErrTooLarge, MaxDocumentBytes)
	}
	if b != nil && !json.Valid(b) {
		return fmt.Errorf("%s is not valid JSON", what)
	}
	return nil
}

func (t *sqlTx) GetJob(ctx context.Context, id string, forUpdate bool) (*Job, error) {
	lock := ""
	if forUpdate {
		lock = t.s.d.forUpdate
	}
	return getJob(ctx, t.q, id, lock)
}

// updateJob is the statement that writes j's mutable fields, with check
// only while the row is at revision j.Rev, and when it sets j.UpdatedAt.
func (t *sqlTx) updateJob(j *Job, check bool) (string, []any, time.Time, error) {
	doc := j.Context
	if len(doc) == 0 || string(doc) == "null" {
		doc = json.RawMessage(`{}`)
	}
	for _, c := range []struct {
		what string
		b    []byte
	}{{"context", doc}, {"state", j.State}, {"result", j.Result}} {
		if err := checkJSON(c.what, c.b); err != nil {
			return "", nil, time.Time{}, fmt.Errorf("update job %q: %w", j.ID, err)
		}
	}
	d := t.s.d
	now := t.s.now()
	q := `UPDATE jobs SET context = $2, status = $3, state = $4, result = $5, error = $6,
completed_at = $7, updated_at = $8, rev = rev + 1 WHERE id = $1`
	args := []any{j.ID, d.jsonArg(doc), j.Status, d.jsonArg(j.State), d.jsonArg(j.Result), j.Error, t.optTime(j.CompletedAt), d.timeArg(now)}
	if check {
		q += ` AND rev = $9`
		args = append(args, j.Rev)
	}
	return q, args, now, nil
}

func (t *sqlTx) UpdateJob(ctx context.Context, j *Job) error {
	return t.update(ctx, j, false)
}

// update is UpdateJob, with check only while the row is at revision j.Rev
// (else ErrChanged).
func (t *sqlTx) update(ctx context.Context, j *Job, check bool) error {
	q, args, now, err := t.updateJob(j, check)
	if err != nil {
		return err
	}
	gone := ErrNotFound
	if check {
		gone = ErrChanged
	}
	if t.q.pipelines() {
		if err := t.q.later(ctx, fmt.Sprintf("update job %q", j.ID), gone, guardSQL(q), args...); err != nil {
			return err
		}
	} else {
		n, err := t.q.exec(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("update job %q: %w", j.ID, err)
		}
		if n == 0 {
			return fmt.Errorf("update job %q: %w", j.ID, gone)
		}
	}
	j.UpdatedAt = now
	j.Rev++
	return nil
}

func (t *sqlTx) Apply(ctx context.Context, jobID string, cmds []Command) (json.RawMessage, error) {
	j, err := t.GetJob(ctx, jobID, true)
	if err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	doc, err := DecodeJSON(j.Context)
	if err != nil {
		return nil, fmt.Errorf("apply to job %q: %w", jobID, err)
	}
	out, err := ApplyCommands(doc, cmds)
	if err != nil {
		return nil, fmt.Errorf("apply to job %q: %w", jobID, err)
	}
	b, err := EncodeJSON(out)
	if err != nil {
		return nil, fmt.Errorf("apply to job %q: %w", jobID, err)
	}
	if !readOnly(cmds) {
		d := t.s.d
		if _, err := t.q.exec(ctx, `UPDATE jobs SET context = $2, updated_at = $3, rev = rev + 1 WHERE id = $1`,
			jobID, d.jsonArg(b), d.timeArg(t.s.now())); err != nil {
			return nil, fmt.Errorf("apply to job %q: %w", jobID, err)
		}
	}
	return b, nil
}

func readOnly(cmds []Command) bool {
	for _, c := range cmds {
		if c.Op != OpGet {
			return false
		}
	}
	return true
}

// prepTasks checks tasks and gives them an ID and a due time; the queues of
// those not leased at birth are woken after the commit.
func (t *sqlTx) prepTasks(tasks []Task) error {
	now := t.s.now()
	for i := range tasks {
		tk := &tasks[i]
		if tk.JobID == "" || tk.Queue == "" || tk.Kind == "" {
			return fmt.Errorf("enqueue task %d: job %q, queue %q and kind %q must not be empty", i, tk.JobID, tk.Queue, tk.Kind)
		}
		if err := checkJSON("payload", tk.Payload); err != nil {
			return fmt.Errorf("enqueue task %d for job %q: %w", i, tk.JobID, err)
		}
		if tk.ID == 0 {
			tk.ID = newTaskID()
		}
		if tk.DueAt.IsZero() {
			tk.DueAt = now
		}
		if tk.Worker == "" {
			if t.queues == nil {
				t.queues = map[string]bool{}
			}
			t.queues[tk.Queue] = true
		}
	}
	return nil
}

func (t *sqlTx) EnqueueTasks(ctx context.Context, tasks []Task) error {
	d := t.s.d
	if err := t.prepTasks(tasks); err != nil {
		return err
	}
	for i := range tasks {
		tk := &tasks[i]
		if tk.Worker != "" {
			// Leased at birth to a worker of this process (runtime hand-off):
			// no wakeup, the worker gets it in memory after the commit.
			if err := t.q.later(ctx, fmt.Sprintf("enqueue task for job %q on %q", tk.JobID, tk.Queue), nil, `INSERT INTO tasks (id, job_id, queue, kind, payload, due_at, attempts, lease_until, worker)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, tk.ID, tk.JobID, tk.Queue, tk.Kind, d.jsonArg(tk.Payload), d.timeArg(tk.DueAt),
				tk.Attempts, d.timeArg(tk.LeaseUntil), tk.Worker); err != nil {
				return err
			}
			continue
		}
		if err := t.q.later(ctx, fmt.Sprintf("enqueue task for job %q on %q", tk.JobID, tk.Queue), nil, `INSERT INTO tasks (id, job_id, queue, kind, payload, due_at, attempts)
VALUES ($1, $2, $3, $4, $5, $6, 0)`, tk.ID, tk.JobID, tk.Queue, tk.Kind, d.jsonArg(tk.Payload), d.timeArg(tk.DueAt)); err != nil {
			return err
		}
	}
	return nil
}

// newTaskID draws a random positive 63-bit id: no shared sequence to contend
// on, and collisions are negligible.
func newTaskID() int64 {
	for {
		if id := rand.Int64(); id > 0 {
			return id
		}
	}
}

func (t *sqlTx) DeleteTask(ctx context.Context, id int64, attempts int) (bool, error) {
	q, args := `DELETE FROM tasks WHERE id = $1`, []any{id}
	if attempts > 0 {
		q, args = `DELETE FROM tasks WHERE id = $1 AND attempts = $2`, []any{id, attempts}
	}
	if t.q.pipelines() {
		// Sent with the transaction's next statement or its commit: a task
		// found gone then fails the transaction with ErrTaskGone.
		return true, t.q.later(ctx, fmt.Sprintf("delete task %d", id), ErrTaskGone, guardSQL(q), args...)
	}
	n, err := t.q.exec(ctx, q, args...)
	if err != nil {
		return false, fmt.Errorf("delete task %d: %w", id, err)
	}
	return n > 0, nil
}

func (t *sqlTx) RescheduleTask(ctx context.Context, id int64, dueAt time.Time) error {
	n, err := t.q.exec(ctx, `UPDATE tasks SET due_at = $2, lease_until = NULL, worker = NULL WHERE id = $1`,
		id, t.s.d.timeArg(dueAt))
	if err != nil {
		return fmt.Errorf("reschedule task %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("reschedule task %d: %w", id, ErrNotFound)
	}
	return nil
}

func (t *sqlTx) ReleaseTask(ctx context.Context, id int64, attempts int, dueAt time.Time) (bool, error) {
	n, err := t.q.exec(ctx, `UPDATE tasks SET due_at = $3, lease_until = NULL, worker = NULL, attempts = attempts - 1
WHERE id = $1 AND attempts = $2`, id, attempts, t.s.d.timeArg(dueAt))
	if err != nil {
		return false, fmt.Errorf("release task %d: %w", id, err)
	}
	return n > 0, nil
}

func (t *sqlTx) TakeTasks(ctx context.Context, jobID, kind string) ([]Task, error) {
	out, err := scanTasks(t.q.query(ctx, `DELETE FROM tasks WHERE job_id = $1 AND kind = $2
RETURNING `+taskCols, jobID, kind))
	if err != nil {
		return nil, fmt.Errorf("take %s tasks of job %q: %w", kind, jobID, err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].DueAt.Before(out[j].DueAt) })
	return out, nil
}

func (t *sqlTx) DeleteJobTasks(ctx context.Context, jobID string) error {
	return t.q.later(ctx, fmt.Sprintf("delete tasks of job %q", jobID), nil, `DELETE FROM tasks WHERE job_id = $1`, jobID)
}

// prepHistory checks events and stamps those without a time.
func (t *sqlTx) prepHistory(events []HistoryEvent) error {
	for i := range events {
		e := &events[i]
		if e.JobID == "" || e.Kind == "" {
			return errors.New("append history: job id and kind must not be empty")
		}
		if err := checkJSON("detail", e.Detail); err != nil {
			return fmt.Errorf("append history for job %q: %w", e.JobID, err)
		}
		if err := checkJSON("patch", e.Patch); err != nil {
			return fmt.Errorf("append history for job %q: %w", e.JobID, err)
		}
		if e.At.IsZero() {
			e.At = t.s.now()
		}
	}
	return nil
}

func (t *sqlTx) AppendHistory(ctx context.Context, events []HistoryEvent) error {
	d := t.s.d
	if err := t.prepHistory(events); err != nil {
		return err
	}
	if d.appendHistory != nil && (len(events) > 1 || t.q.pipelines()) {
		return d.appendHistory(ctx, t.q, events)
	}
	for i := range events {
		e := &events[i]
		err := t.q.queryRow(ctx, `INSERT INTO history (job_id, seq, at, kind, thread, step, state, detail, patch)
VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM history WHERE job_id = $1), $2, $3, $4, $5, $6, $7, $8)
RETURNING seq`, e.JobID, d.timeArg(e.At), e.Kind, e.Thread, e.Step, e.State, d.jsonArg(e.Detail), d.jsonArg(e.Patch)).Scan(&e.Seq)
		if err != nil {
			return fmt.Errorf("append history for job %q: %w", e.JobID, err)
		}
	}
	return nil
}

func (t *sqlTx) WriteTransition(ctx context.Context, w Transition) error {
	if t.q.pipelines() && t.s.d.writeTransition != nil {
		return t.writeTransition(ctx, w)
	}
	if w.Insert {
		if err := t.CreateJob(ctx, *w.Job); err != nil {
			return err
		}
	} else if err := t.update(ctx, w.Job, w.Unlocked); err != nil {
		return err
	}
	if w.DropTasks {
		if err := t.DeleteJobTasks(ctx, w.Job.ID); err != nil {
			return err
		}
	}
	if len(w.Tasks) > 0 {
		if err := t.EnqueueTasks(ctx, w.Tasks); err != nil {
			return err
		}
	}
	if len(w.History) > 0 {
		return t.AppendHistory(ctx, w.History)
	}
	return nil
}

// writeTransition sends WriteTransition as one statement (the dialect's
// writeTransition), checked like the job's own insert or update.
func (t *sqlTx) writeTransition(ctx context.Context, w Transition) error {
	j := w.Job
	var (
		q    string
		args []any
		err  error
		now  time.Time
		what = fmt.Sprintf("update job %q", j.ID)
		gone = ErrNotFound
	)
	if w.Insert {
		q, args, err = t.insertJob(*j)
		what, gone = fmt.Sprintf("insert job %q", j.ID), ErrExists
	} else {
		q, args, now, err = t.updateJob(j, w.Unlocked)
		if w.Unlocked {
			gone = ErrChanged
		}
	}
	if err != nil {
		return err
	}
	if err := t.prepTasks(w.Tasks); err != nil {
		return err
	}
	if err := t.prepHistory(w.History); err != nil {
		return err
	}
	q, args = t.s.d.writeTransition(q, args, w)
	if err := t.q.later(ctx, what, gone, q, args...); err != nil {
		return err
	}
	if w.Insert {
		j.Rev = 0
	} else {
		j.UpdatedAt = now
		j.Rev++
	}
	return nil
}
