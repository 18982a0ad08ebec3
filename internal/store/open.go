package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Option configures Open.
type Option func(*options)

type options struct {
	now       func() time.Time
	mustExist bool
}

// MustExist makes Open refuse to provision: the Postgres schema or the
// SQLite file must already hold app, else Open returns a *NoAppError and
// creates nothing (no file, no schema). Commands that only read use it, so
// a misspelled app or a wrong folder is an error, not an empty answer.
func MustExist() Option { return func(o *options) { o.mustExist = true } }

// NoAppError is Open with MustExist finding no app of that name: Where names
// the database (a redacted URL or a file path) and Apps lists the memflow
// apps found there (for SQLite, in the files next to the one asked for).
type NoAppError struct {
	App     string
	Where   string
	Missing bool // the SQLite file does not exist
	Apps    []string
}

func (e *NoAppError) Error() string {
	here := "none"
	if len(e.Apps) > 0 {
		here = strings.Join(e.Apps[:min(len(e.Apps), maxAppsShown)], ", ")
	}
	if len(e.Apps) > maxAppsShown {
		here += fmt.Sprintf(" and %d more", len(e.Apps)-maxAppsShown)
	}
	if e.Missing {
		return fmt.Sprintf("no memflow app %q: there is no database file %s (apps in that folder: %s)", e.App, e.Where, here)
	}
	return fmt.Sprintf("no memflow app %q in this database (apps here: %s)", e.App, here)
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
	sqlitePath := func(path string) (Store, error) {
		if o.mustExist {
			if err := sqliteHoldsApp(ctx, path, app); err != nil {
				return nil, err
			}
		}
		return openSQLite(ctx, path, app, o)
	}
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		if err := checkPostgresURL(url); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		if o.mustExist {
			if err := postgresHoldsApp(ctx, url, app); err != nil {
				return nil, err
			}
		}
		return openPostgres(ctx, url, app, o)
	case strings.HasPrefix(url, "sqlite://"):
		return sqlitePath(strings.TrimPrefix(url, "sqlite://"))
	case strings.HasPrefix(url, "sqlite:"):
		return sqlitePath(strings.TrimPrefix(url, "sqlite:"))
	case strings.HasSuffix(url, ".db") && !strings.Contains(url, "://"):
		return sqlitePath(url)
	case strings.Contains(url, "=") && !strings.Contains(url, "://"):
		return nil, fmt.Errorf("open store: unsupported database url %q: keyword/value connection strings are not accepted, write it as a postgres:// URL", Redact(url))
	}
	return nil, fmt.Errorf("open store: unsupported database url %q (want postgres://..., sqlite:PATH or a path ending in .db)", Redact(url))
}

// postgresHoldsApp checks, over a connection of its own and without
// writing anything, that the database has app's schema with memflow's
// tables and that the schema records app.
func postgresHoldsApp(ctx context.Context, url, app string) error {
	// A pool of one, so the URL's pool settings (pool_max_conns, ...) read
	// as they do for the store itself.
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("open postgres: %w", err)
	}
	cfg.MaxConns, cfg.MinConns = 1, 0
	conn, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("open postgres: %w", err)
	}
	defer conn.Close()
	// Schemas holding both of memflow's meta and jobs tables, and the app
	// each records.
	rows, err := conn.Query(ctx, `SELECT table_schema FROM information_schema.tables
		WHERE table_name IN ('meta', 'jobs') GROUP BY table_schema
		HAVING count(DISTINCT table_name) = 2 ORDER BY table_schema`)
	if err != nil {
		return fmt.Errorf("open postgres: list apps: %w", err)
	}
	schemas, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("open postgres: list apps: %w", err)
	}
	var apps []string
	for _, sc := range schemas {
		var held string
		// The schema name comes from the catalogue and is quoted as an
		// identifier; nothing the user typed reaches this text.
		err := conn.QueryRow(ctx, `SELECT value FROM `+pgx.Identifier{sc, "meta"}.Sanitize()+` WHERE key = 'app'`).Scan(&held)
		if err != nil {
			continue // not readable or not recorded: not an app to offer
		}
		if held == app && sc == SchemaName(app) {
			return nil
		}
		apps = append(apps, held)
	}
	sort.Strings(apps)
	return &NoAppError{App: app, Where: Redact(url), Apps: apps}
}

// sqliteHoldsApp checks, without creating or writing anything, that the
// SQLite file at path exists and records app; when it does not, it lists the
// apps of the memflow files in the same folder.
func sqliteHoldsApp(ctx context.Context, path, app string) error {
	if path == "" || strings.ContainsAny(path, "?#") {
		return fmt.Errorf("open sqlite: invalid path %q", path)
	}
	if _, err := os.Stat(path); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("open sqlite %s: %w", path, err)
		}
		return &NoAppError{App: app, Where: path, Missing: true, Apps: sqliteAppsIn(ctx, filepath.Dir(path))}
	}
	held, err := sqliteApp(ctx, path)
	if err != nil {
		return fmt.Errorf("open sqlite %s: not a memflow database: %w", path, err)
	}
	if held != app {
		return &NoAppError{App: app, Where: path, Apps: []string{held}}
	}
	return nil
}

// maxAppsShown bounds the apps a NoAppError names.
const maxAppsShown = 20

// maxAppFiles bounds how many SQLite files next to a missing one are read
// to list the apps there.
const maxAppFiles = 50

// sqliteAppsIn lists the apps recorded in the *.db files of dir (at most
// maxAppFiles of them), sorted; files that are not memflow databases are
// left out.
func sqliteAppsIn(ctx context.Context, dir string) []string {
	files, _ := filepath.Glob(filepath.Join(dir, "*.db"))
	if len(files) > maxAppFiles {
		files = files[:maxAppFiles]
	}
	var apps []string
	for _, f := range files {
		if app, err := sqliteApp(ctx, f); err == nil {
			apps = append(apps, app)
		}
	}
	sort.Strings(apps)
	return apps
}

// sqliteApp reads the app an SQLite file records, opening it read-only.
func sqliteApp(ctx context.Context, path string) (string, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return "", err
	}
	defer db.Close()
	var app string
	err = db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'app'`).Scan(&app)
	return app, err
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
