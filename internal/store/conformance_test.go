package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/memflow/memflow/internal/pgtest"
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

func postgresURL(t testing.TB) string { return pgtest.URL(t) }

func randomApp() string { return pgtest.RandomApp() }

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
	pgtest.DropSchemaAtCleanup(t, url, store.SchemaName(app))
}
