package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Option configures Open.
type Option func(*options)

type options struct {
	now func() time.Time
}

// WithClock replaces time.Now as the store's clock (task due times, job and
// history timestamps when the caller leaves them zero).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

var appIDPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

// ValidateApp checks an app id: a lowercase letter, then up to 62 lowercase
// letters, digits, '_' or '-'.
func ValidateApp(app string) error {
	if !appIDPattern.MatchString(app) {
		return fmt.Errorf("invalid app id %q: want a lowercase letter then up to 62 of a-z, 0-9, '_', '-'", app)
	}
	return nil
}

// SchemaName is the Postgres schema of an app: the app id with '-' as '_'.
// Two app ids that differ only in '-' versus '_' (team-a, team_a) share a
// schema name; the schema records the app that provisioned it (table meta)
// and refuses the other, so apps and schemas stay one to one.
func SchemaName(app string) string { return strings.ReplaceAll(app, "-", "_") }

// errOtherApp aborts provisioning when the schema or file holds another app.
var errOtherApp = errors.New("holds another app")

// claimApp records app as the schema's or file's app unless one is
// recorded, and returns the recorded one.
func claimApp(ctx context.Context, q querier, app string) (string, error) {
	if _, err := q.exec(ctx, `INSERT INTO meta (key, value) VALUES ('app', $1) ON CONFLICT (key) DO NOTHING`, app); err != nil {
		return "", fmt.Errorf("record app: %w", err)
	}
	var held string
	if err := q.queryRow(ctx, `SELECT value FROM meta WHERE key = 'app'`).Scan(&held); err != nil {
		return "", fmt.Errorf("read app: %w", err)
	}
	return held, nil
}

// Open opens (and provisions, idempotently) the store for app at url:
// postgres:// or postgresql:// for Postgres; sqlite:PATH, sqlite://PATH or a
// bare path ending in .db for an SQLite file. Its errors never carry a
// password (see Redact).
func Open(ctx context.Context, url, app string, opts ...Option) (Store, error) {
	s, err := open(ctx, url, app, opts...)
	if err != nil {
		return nil, redactError(err)
	}
	return s, nil
}

func open(ctx context.Context, url, app string, opts ...Option) (Store, error) {
	if err := ValidateApp(app); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		if err := checkPostgresURL(url); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return openPostgres(ctx, url, app, o)
	case strings.HasPrefix(url, "sqlite://"):
		return openSQLite(ctx, strings.TrimPrefix(url, "sqlite://"), app, o)
	case strings.HasPrefix(url, "sqlite:"):
		return openSQLite(ctx, strings.TrimPrefix(url, "sqlite:"), app, o)
	case strings.HasSuffix(url, ".db") && !strings.Contains(url, "://"):
		return openSQLite(ctx, url, app, o)
	case strings.Contains(url, "=") && !strings.Contains(url, "://"):
		return nil, fmt.Errorf("open store: unsupported database url %q: keyword/value connection strings are not accepted, write it as a postgres:// URL", Redact(url))
	}
	return nil, fmt.Errorf("open store: unsupported database url %q (want postgres://..., sqlite:PATH or a path ending in .db)", Redact(url))
}

// checkPostgresURL refuses a Postgres URL that the driver would split
// somewhere other than where its author meant, since the pieces then reach
// the driver's messages as host names or parameter names: a password with
// an unescaped '@' (postgres://u:p@ss@host) or '/' (postgres://u:p/ss@host),
// or a query value with an unescaped '&' or '=' (?password=p&ss).
func checkPostgresURL(url string) error {
	_, rest, _ := strings.Cut(url, "://")
	// As the driver reads it: the user info ends at the first '@' unless a
	// '/' comes first; the host list runs to the first '/' or '?', the path
	// to the first '?', and the query is '&'-separated key=value pairs.
	if i := strings.IndexAny(rest, "@/"); i >= 0 && rest[i] == '@' {
		rest = rest[i+1:]
	}
	hosts := rest
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		hosts = rest[:i]
	}
	path, query, hasQuery := strings.Cut(rest[len(hosts):], "?")
	switch {
	case strings.Contains(hosts, "@"):
		return fmt.Errorf("database url has more than one '@' before the host (write an '@' in the user name or password as %%40): %s", Redact(url))
	case strings.Contains(path, "@"):
		return fmt.Errorf("database url has an '@' after a '/' (write a '/' in the user name or password as %%2F, an '@' in the database name as %%40): %s", Redact(url))
	}
	if hasQuery {
		for i, pair := range strings.Split(query, "&") {
			if strings.Count(pair, "=") != 1 {
				return fmt.Errorf("database url query parameter %d is not one key=value pair (write an '&' or '=' in a value as %%26 or %%3D): %s", i+1, Redact(url))
			}
		}
	}
	return nil
}

// redactedError is an error whose message has its passwords masked; the
// error it wraps stays reachable for errors.Is and errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactError masks the passwords in err's message.
func redactError(err error) error {
	msg := err.Error()
	if red := Redact(msg); red != msg {
		return &redactedError{msg: red, err: err}
	}
	return err
}

// lockKey derives the advisory lock key of a schema.
func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("memflow:" + name))
	return int64(h.Sum64())
}

//go:embed sql
var sqlFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations lists a dialect's numbered migrations (sql/<dialect>/NNNN_*.sql)
// in order.
func migrations(dialect string) ([]migration, error) {
	dir := "sql/" + dialect
	entries, err := fs.ReadDir(sqlFiles, dir)
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %s/%s: name must be NNNN_name.sql", dir, e.Name())
		}
		b, err := sqlFiles.ReadFile(dir + "/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

const migrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL)`

// migrate applies the missing migrations inside tx (the caller holds the
// provisioning lock).
func migrate(ctx context.Context, tx querier, dialect string) error {
	list, err := migrations(dialect)
	if err != nil {
		return err
	}
	if _, err := tx.exec(ctx, migrationsTable); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	applied := map[int]bool{}
	r, err := tx.query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return err
	}
	for r.Next() {
		var v int
		if err := r.Scan(&v); err != nil {
			r.Close()
			return err
		}
		applied[v] = true
	}
	r.Close()
	if err := r.Err(); err != nil {
		return err
	}
	for _, m := range list {
		if applied[m.version] {
			continue
		}
		if _, err := tx.exec(ctx, m.sql); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
			return fmt.Errorf("record migration %s: %w", m.name, err)
		}
	}
	return nil
}
