package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/memflow/memflow/internal/store"
	"github.com/memflow/memflow/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		storetest.Run(t, openSQLite)
	})
	t.Run("postgres", func(t *testing.T) {
		url := postgresURL(t)
		storetest.Run(t, func(t *testing.T) store.Store { return openPostgres(t, url) })
	})
}

func TestOpenRace(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		url := "sqlite:" + filepath.Join(t.TempDir(), "race.db")
		storetest.RunOpenRace(t, func(ctx context.Context) (store.Store, error) { return store.Open(ctx, url, "race") })
	})
	t.Run("postgres", func(t *testing.T) {
		url := postgresURL(t)
		app := randomApp()
		dropSchemaAtCleanup(t, url, app)
		storetest.RunOpenRace(t, func(ctx context.Context) (store.Store, error) { return store.Open(ctx, url, app) })
	})
}

func openSQLite(t *testing.T) store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "memflow.db"), "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// postgresURL returns the test database URL, skipping the test when Postgres
// is unreachable (failing it when CI=true).
func postgresURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("MEMFLOW_TEST_DATABASE_URL")
	if url == "" {
		url = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("postgres unreachable at %s: %v", url, err)
		}
		t.Skipf("postgres unreachable: %v", err)
	}
	conn.Close(context.Background())
	return url
}

func randomApp() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "t_" + hex.EncodeToString(b)
}

// openPostgres opens a fresh schema, dropped when the test ends.
func openPostgres(t testing.TB, url string) store.Store {
	t.Helper()
	app := randomApp()
	dropSchemaAtCleanup(t, url, app)
	s, err := store.Open(context.Background(), url, app)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func dropSchemaAtCleanup(t testing.TB, url, app string) {
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("drop schema: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{store.SchemaName(app)}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
}
