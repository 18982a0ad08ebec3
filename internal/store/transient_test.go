package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/memflow/memflow/internal/pgtest"
	"github.com/memflow/memflow/internal/store"
)

// IsTransient is judged on errors the databases really return: a session
// the server terminated, a refused connection and a busy SQLite file are
// transient; bad SQL, not found and a caller's context are not.
func TestIsTransient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	url := pgtest.Database(t) // its own database: terminating its sessions touches no other test
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend($1)`, conn.PgConn().PID()); err != nil {
		t.Fatal(err)
	}
	_, terminated := conn.Exec(ctx, `SELECT 1`)
	_, badSQL := admin.Exec(ctx, `SELEC 1`)
	_, refused := pgx.Connect(ctx, "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=5")

	// SQLite: one connection holds the write lock; another, without a
	// busy timeout, is refused.
	path := filepath.Join(t.TempDir(), "busy.db")
	holder, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	hc, err := holder.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	for _, q := range []string{`CREATE TABLE t (x)`, `BEGIN EXCLUSIVE`, `INSERT INTO t VALUES (1)`} {
		if _, err := hc.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, busy := other.ExecContext(ctx, `INSERT INTO t VALUES (2)`)
	_, _ = hc.ExecContext(ctx, `ROLLBACK`)

	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"terminated session", fmt.Errorf("get job: %w", terminated), true},
		{"refused connection", refused, true},
		{"busy sqlite", busy, true},
		{"bad sql", badSQL, false},
		{"not found", fmt.Errorf("get job %q: %w", "x", store.ErrNotFound), false},
		{"cancelled", context.Canceled, false},
		{"a database call out of time", fmt.Errorf("get: %w", context.DeadlineExceeded), true},
		{"other", errors.New("decode json: bad"), false},
	} {
		if tc.err == nil {
			t.Errorf("%s: the database returned no error", tc.name)
			continue
		}
		if got := store.IsTransient(tc.err); got != tc.want {
			t.Errorf("%s (%v): IsTransient %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
