package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Read-only views for people inspecting instances: listing them without an
// entity type, a job's pending tasks and the history after a known row.

// ListParams selects and pages ListJobs. Pages are keyset pages: newest
// first by (CreatedAt, ID), each page starting after the last job of the
// previous one, so a page costs the same however deep it is.
type ListParams struct {
	Flow     string  // workflow name; "" any
	Status   string  // Status* constant; "" any
	Entity   string  // entity type; "" any
	IDPrefix string  // ids that start with this text; "" any
	Limit    int     // 0: 100; at most MaxListLimit; negative is an error
	After    *Cursor // nil: from the newest
}

// MaxListLimit bounds one page of ListJobs.
const MaxListLimit = 10000

// Cursor is the position of a job in ListJobs' order.
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// CursorOf is the cursor just after j: pass it as ListParams.After for the
// next page.
func CursorOf(j Job) *Cursor { return &Cursor{CreatedAt: j.CreatedAt, ID: j.ID} }

// String renders the cursor as text a person can pass back
// (ParseCursor): the creation time in unix nanoseconds, ".", the id.
func (c Cursor) String() string { return strconv.FormatInt(c.CreatedAt.UnixNano(), 10) + "." + c.ID }

// ParseCursor reads Cursor.String's text.
func ParseCursor(s string) (*Cursor, error) {
	ns, id, ok := strings.Cut(s, ".")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || id == "" {
		return nil, fmt.Errorf("cursor %q: want <nanoseconds>.<id> as a previous page printed it", s)
	}
	return &Cursor{CreatedAt: time.Unix(0, n).UTC(), ID: id}, nil
}

// listCols are jobCols without the documents: a listing shows what an
// instance is, not its entity or cursor state.
const listCols = `id, entity, NULL, COALESCE(status, ''), COALESCE(flow, ''), COALESCE(version, ''),
COALESCE(task_queue, ''), NULL, NULL, NULL, COALESCE(error, ''), created_at, updated_at, completed_at,
COALESCE(root_id, id), COALESCE(parent_id, ''), depth, rev`

func (s *sqlStore) ListJobs(ctx context.Context, p ListParams) ([]Job, error) {
	if p.Limit < 0 || p.Limit > MaxListLimit {
		return nil, fmt.Errorf("list instances: limit %d must be between 0 (the default, 100) and %d", p.Limit, MaxListLimit)
	}
	limit := p.Limit
	if limit == 0 {
		limit = 100
	}
	// Only fixed fragments are joined; every value is bound.
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var conds []string
	if p.Flow != "" {
		conds = append(conds, "flow = "+arg(p.Flow))
	}
	if p.Status != "" {
		conds = append(conds, "status = "+arg(p.Status))
	}
	if p.Entity != "" {
		conds = append(conds, "entity = "+arg(p.Entity))
	}
	if p.IDPrefix != "" {
		n := arg(utf8.RuneCountInString(p.IDPrefix))
		conds = append(conds, "substr(id, 1, "+n+") = "+arg(p.IDPrefix))
	}
	if p.After != nil {
		t := arg(s.d.timeArg(p.After.CreatedAt))
		id := arg(p.After.ID)
		conds = append(conds, "(created_at < "+t+" OR (created_at = "+t+" AND id < "+id+"))")
	}
	q := `SELECT ` + listCols + ` FROM jobs`
	if len(conds) > 0 {
		q += ` WHERE ` + strings.Join(conds, " AND ")
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ` + arg(limit)
	r, err := s.b.pool().query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	defer r.Close()
	out := []Job{}
	for r.Next() {
		j, err := scanJob(r)
		if err != nil {
			return nil, fmt.Errorf("list instances: %w", err)
		}
		j.Context = nil
		out = append(out, *j)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	return out, nil
}

func (s *sqlStore) JobTasks(ctx context.Context, jobID string) ([]Task, error) {
	out, err := scanTasks(s.b.pool().query(ctx, `SELECT `+taskCols+` FROM tasks WHERE job_id = $1 ORDER BY due_at, id`, jobID))
	if err != nil {
		return nil, fmt.Errorf("tasks of %q: %w", jobID, err)
	}
	return out, nil
}

func (s *sqlStore) HistoryAfter(ctx context.Context, jobID string, after int64, limit int) ([]HistoryEvent, error) {
	if limit <= 0 {
		limit = 1000
	}
	return scanHistory(jobID)(s.b.pool().query(ctx, `SELECT job_id, seq, at, kind, thread, step, state, detail
FROM history WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, jobID, after, limit))
}

func (s *sqlStore) EntityPatches(ctx context.Context, jobID string, seq int64) ([]json.RawMessage, int64, error) {
	fail := func(err error) ([]json.RawMessage, int64, error) {
		return nil, 0, fmt.Errorf("entity patches of %q: %w", jobID, err)
	}
	var last int64
	if err := s.b.pool().queryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM history WHERE job_id = $1`, jobID).Scan(&last); err != nil {
		return fail(err)
	}
	r, err := s.b.pool().query(ctx, `SELECT seq, patch FROM history
WHERE job_id = $1 AND seq <= $2 AND (seq = 1 OR patch IS NOT NULL) ORDER BY seq`, jobID, seq)
	if err != nil {
		return fail(err)
	}
	defer r.Close()
	var out []json.RawMessage
	for r.Next() {
		var n int64
		var p json.RawMessage
		if err := r.Scan(&n, jsonCol{&p}); err != nil {
			return fail(err)
		}
		out = append(out, p) // nil: the first row, written before patches were kept

	}
	if err := r.Err(); err != nil {
		return fail(err)
	}
	return out, last, nil
}

// ReadyTasks implements Store.
func (s *sqlStore) ReadyTasks(ctx context.Context, now time.Time) (map[string]int, error) {
	r, err := s.b.pool().query(ctx, `SELECT queue, COUNT(*) FROM tasks
WHERE due_at <= $1 AND (lease_until IS NULL OR lease_until < $1) GROUP BY queue`, s.d.timeArg(now))
	if err != nil {
		return nil, fmt.Errorf("ready tasks: %w", err)
	}
	defer r.Close()
	out := map[string]int{}
	for r.Next() {
		var q string
		var n int
		if err := r.Scan(&q, &n); err != nil {
			return nil, fmt.Errorf("ready tasks: %w", err)
		}
		out[q] = n
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("ready tasks: %w", err)
	}
	return out, nil
}

// NextDue implements Store.
func (s *sqlStore) NextDue(ctx context.Context) (time.Time, bool, error) {
	out, err := scanTasks(s.b.pool().query(ctx, `SELECT `+taskCols+` FROM tasks
ORDER BY CASE WHEN lease_until IS NOT NULL AND lease_until > due_at THEN lease_until ELSE due_at END, id LIMIT 1`))
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next due task: %w", err)
	}
	if len(out) == 0 {
		return time.Time{}, false, nil
	}
	at := out[0].DueAt
	if out[0].LeaseUntil.After(at) {
		at = out[0].LeaseUntil
	}
	return at, true, nil
}

// CountJobs counts instances by status ("running", "completed", ...),
// of workflow flow ("" every workflow). Statuses no instance has are
// absent.
func (s *sqlStore) CountJobs(ctx context.Context, flow string) (map[string]int, error) {
	q := `SELECT COALESCE(status, ''), COUNT(*) FROM jobs`
	var args []any
	if flow != "" {
		q += ` WHERE flow = $1`
		args = append(args, flow)
	}
	r, err := s.b.pool().query(ctx, q+` GROUP BY 1`, args...)
	if err != nil {
		return nil, fmt.Errorf("count instances: %w", err)
	}
	defer r.Close()
	out := map[string]int{}
	for r.Next() {
		var st string
		var n int
		if err := r.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count instances: %w", err)
		}
		if st == "" {
			st = StatusRunning
		}
		out[st] += n
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("count instances: %w", err)
	}
	return out, nil
}

// Ping reads one row: the database answers and the app's tables exist.
func (s *sqlStore) Ping(ctx context.Context) error {
	r, err := s.b.pool().query(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM jobs LIMIT 1) AS one`)
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	defer r.Close()
	for r.Next() {
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}
