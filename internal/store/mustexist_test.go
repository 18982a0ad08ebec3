package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/memflow/memflow/internal/pgtest"
	"github.com/memflow/memflow/internal/store"
)

// With MustExist, Open creates no SQLite file and names the apps of the
// files beside the one asked for.
func TestMustExistSQLite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, app := range []string{"memflow", "my_app"} {
		s, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, app+".db"), app)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	missing := filepath.Join(dir, "memfow.db")
	_, err := store.Open(ctx, "sqlite:"+missing, "memfow", store.MustExist())
	want := `no memflow app "memfow": there is no database file ` + missing + ` (apps in that folder: memflow, my_app)`
	var na *store.NoAppError
	if err == nil || err.Error() != want || !errors.As(err, &na) || !na.Missing {
		t.Errorf("missing file: err = %v\nwant %s", err, want)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("MustExist created %s: %v", missing, err)
	}
	// A file of another app is not provisioned for this one either.
	_, err = store.Open(ctx, "sqlite:"+filepath.Join(dir, "memflow.db"), "other", store.MustExist())
	if want := `no memflow app "other" in this database (apps here: memflow)`; err == nil || err.Error() != want {
		t.Errorf("other app: err = %v, want %s", err, want)
	}
	// A folder that does not exist is not created.
	_, err = store.Open(ctx, "sqlite:"+filepath.Join(dir, "nodir", "memflow.db"), "memflow", store.MustExist())
	if !errors.As(err, &na) {
		t.Errorf("missing folder: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "nodir")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("MustExist created a folder: %v", err)
	}
	// The app that is there opens.
	s, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "my_app.db"), "my_app", store.MustExist())
	if err != nil {
		t.Fatalf("existing app: %v", err)
	}
	s.Close()
}

// With MustExist, Open creates no Postgres schema and names the apps the
// database holds.
func TestMustExistPostgres(t *testing.T) {
	ctx := context.Background()
	u := pgtest.Database(t) // a database of its own, so the list of apps is known
	for _, app := range []string{"memflow", "my-app"} {
		s, err := store.Open(ctx, u, app)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	_, err := store.Open(ctx, u, "memfow", store.MustExist())
	if want := `no memflow app "memfow" in this database (apps here: memflow, my-app)`; err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'memfow'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("MustExist created schema memfow (%d, %v)", n, err)
	}
	s, err := store.Open(ctx, u, "my-app", store.MustExist())
	if err != nil {
		t.Fatalf("existing app: %v", err)
	}
	s.Close()
}
