package store

import (
	"context"
	"encoding/json"
	"strconv"
	"time"
)

// dialect holds every difference between the two SQL dialects: how values
// are encoded as arguments, the few statements whose text differs, and how a
// JSON path becomes an SQL expression. Everything else is shared SQL.
type dialect struct {
	name string
	// timeArg and jsonArg encode arguments for the column types the dialect
	// uses (timestamptz/jsonb on Postgres, INTEGER nanos/TEXT on SQLite).
	timeArg func(time.Time) any
	jsonArg func([]byte) any
	// forUpdate locks a row read inside a transaction ("" on SQLite, where
	// the write transaction already holds the database lock).
	forUpdate string
	// claim leases due tasks. $1 lease_until, $2 worker, $3 now, $4 limit,
	// $5 queues (claimQueues, claimQueuesRoot), then the root (claimRoot:
	// $5, claimQueuesRoot: $6) whose tree's tasks only are claimed.
	claimAny, claimQueues, claimRoot, claimQueuesRoot string
	queuesArg                                         func([]string) any
	// inList tests a column against the list bound by listArg as $1.
	inList  string
	listArg func([]string) any
	// claimPrelude runs first in the claim transaction ("" none). On
	// Postgres it makes the claim's commit asynchronous: a lease lost in a
	// crash only lets the task be claimed again, which at-least-once
	// activities allow, so the claim need not wait for the WAL flush.
	claimPrelude string
	// appendHistory, when set, writes several checked history events in one
	// statement (one round trip instead of one per event).
	appendHistory func(ctx context.Context, q querier, events []HistoryEvent) error
	// writeTransition, when set, folds a transition's writes into one
	// statement: job is the job's insert or update with its arguments
	// (numbered from $1); the statement returned fails with a division by
	// zero when that changed no row (guardSQL).
	writeTransition func(job string, args []any, w Transition) (string, []any)
	// fieldExpr renders a validated path as an SQL expression reading the
	// JSON value there; fieldCond renders one Find condition (find.go).
	fieldExpr func(segs []Segment) string
	fieldCond func(segs []Segment, op string, v any, arg func(any) string) (string, error)
	// presence is SQL NULL exactly when the path is missing (exists).
	presence func(segs []Segment) string
	// likeCond matches a string against a LIKE pattern (% _ and \ escapes).
	likeCond func(segs []Segment, pattern string, arg func(any) string) string
	// inCond: the value equals one of list (non-empty, scalars).
	inCond func(segs []Segment, list []any, arg func(any) string) (string, error)
	// containsCond: the value is an array holding v (a scalar of kind);
	// idx names the array index on the field, arrayIdx says if it exists.
	containsCond func(idx string, segs []Segment, kind string, v any, arg func(any) string, arrayIdx func(string) bool) (string, error)
	// sortKeys renders the three sort keys of a field: type rank, number
	// and text (find.go); numText renders the number as text for the
	// cursor, numParam binds a cursor's number back.
	sortKeys func(segs []Segment) (rank, num, txt string)
	numText  func(num string) string
	numParam func(num string, arg func(any) string) string
	// arrayIndexSQL renders CreateArrayIndex's statements; hasArrayIndex
	// (nil: not needed) reports whether an array index exists, for
	// dialects whose "contains" query differs when it does.
	arrayIndexSQL func(ix arrayIndex) []string
	hasArrayIndex func(ctx context.Context, q querier, name string) (bool, error)
	// createIndex renders CREATE INDEX for (name, field expression, entity literal).
	createIndex func(name, expr, entity string) string
	// afterIndex refreshes planner statistics after CreateIndex ("" none):
	// SQLite's planner only prefers a partial expression index over the
	// entity index once it has statistics.
	afterIndex string
}

const taskCols = `id, job_id, queue, kind, payload, due_at, attempts, lease_until, COALESCE(worker, '')`

const claimTail = ` ORDER BY due_at LIMIT $4`

// claimSQL leases due tasks. in wraps the id subquery: Postgres takes it as
// `= ANY(ARRAY(...))` so the update finds the rows by primary key instead of
// a hash join over the whole table.
func claimSQL(filter, lock string, in func(sub string) string) string {
	return `UPDATE tasks SET lease_until = $1, worker = $2, attempts = attempts + 1
WHERE id ` + in(`SELECT id FROM tasks WHERE `+filter+`due_at <= $3 AND (lease_until IS NULL OR lease_until < $3)`+
		claimTail+lock) + `
RETURNING ` + taskCols
}

// rootFilter restricts a claim to the tasks of the instances of a tree:
// the root itself and the jobs whose root_id is it (jobs_root_idx).
func rootFilter(n string) string {
	return `job_id IN (SELECT id FROM jobs WHERE root_id = ` + n + ` OR id = ` + n + `) AND `
}

func pgIn(sub string) string  { return `= ANY(ARRAY(` + sub + `))` }
func sqlIn(sub string) string { return `IN (` + sub + `)` }

var postgresDialect = dialect{
	name:            "postgres",
	timeArg:         func(t time.Time) any { return t.UTC() },
	jsonArg:         func(b []byte) any { return nullJSON(b) },
	forUpdate:       " FOR UPDATE",
	claimAny:        claimSQL("", " FOR UPDATE SKIP LOCKED", pgIn),
	claimQueues:     claimSQL("queue = ANY($5) AND ", " FOR UPDATE SKIP LOCKED", pgIn),
	claimRoot:       claimSQL(rootFilter("$5"), " FOR UPDATE SKIP LOCKED", pgIn),
	claimQueuesRoot: claimSQL("queue = ANY($5) AND "+rootFilter("$6"), " FOR UPDATE SKIP LOCKED", pgIn),
	queuesArg:       func(q []string) any { return q },
	inList:          `= ANY($1)`,
	listArg:         func(l []string) any { return l },
	claimPrelude:    `SET LOCAL synchronous_commit TO OFF`,
	appendHistory:   pgAppendHistory,
	writeTransition: pgWriteTransition,
	fieldExpr:       pgFieldExpr,
	fieldCond:       pgFieldCond,
	presence:        pgFieldExpr,
	likeCond:        pgLikeCond,
	inCond:          pgInCond,
	containsCond:    pgContainsCond,
	sortKeys:        pgSortKeys,
	numText:         func(num string) string { return num + "::text" },
	numParam: func(num string, arg func(any) string) string {
		if num == "" {
			num = "0"
		}
		return arg(num) + "::text::numeric"
	},
	arrayIndexSQL: pgArrayIndexSQL,
	createIndex: func(name, expr, entity string) string {
		return `CREATE INDEX IF NOT EXISTS ` + quoteIdent(name) + ` ON jobs ((` + expr + `)) WHERE entity = ` + entity
	},
}

var sqliteDialect = dialect{
	name:    "sqlite",
	timeArg: func(t time.Time) any { return t.UnixNano() },
	jsonArg: func(b []byte) any {
		if b == nil {
			return nil
		}
		return string(b)
	},
	claimAny:        claimSQL("", "", sqlIn),
	claimQueues:     claimSQL("queue IN (SELECT value FROM json_each($5)) AND ", "", sqlIn),
	claimRoot:       claimSQL(rootFilter("$5"), "", sqlIn),
	claimQueuesRoot: claimSQL("queue IN (SELECT value FROM json_each($5)) AND "+rootFilter("$6"), "", sqlIn),
	queuesArg:       jsonList,
	inList:          `IN (SELECT value FROM json_each($1))`,
	listArg:         jsonList,
	fieldExpr:       sqliteFieldExpr,
	fieldCond:       sqliteFieldCond,
	presence:        sqliteTypeExpr,
	likeCond:        sqliteLikeCond,
	inCond:          sqliteInCond,
	containsCond:    sqliteContainsCond,
	sortKeys:        sqliteSortKeys,
	numText:         func(num string) string { return num },
	numParam: func(num string, arg func(any) string) string {
		if i, err := strconv.ParseInt(num, 10, 64); err == nil || num == "" {
			return arg(i)
		}
		f, _ := strconv.ParseFloat(num, 64)
		return arg(f)
	},
	arrayIndexSQL: sqliteArrayIndexSQL,
	hasArrayIndex: sqliteHasArrayIndex,
	createIndex: func(name, expr, entity string) string {
		return `CREATE INDEX IF NOT EXISTS ` + quoteIdent(name) + ` ON jobs (` + expr + `) WHERE entity = ` + entity
	},
	afterIndex: `ANALYZE jobs`,
}

// jsonList binds a list as JSON array text (SQLite's json_each).
func jsonList(l []string) any {
	b, _ := json.Marshal(l)
	return string(b)
}

func nullJSON(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// quoteIdent double-quotes an identifier that was already validated against
// a strict charset (so it holds no quote).
func quoteIdent(s string) string { return `"` + s + `"` }
