package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/memflow/memflow/internal/store"
)

// An app never reads another app's instances: on Postgres each app is a
// schema; an SQLite file holds one app and refuses to open for another,
// writing nothing.
func TestAppsAreSeparate(t *testing.T) {
	ctx := context.Background()
	insert := func(t *testing.T, s store.Store, id string) {
		t.Helper()
		err := s.InTx(ctx, func(tx store.Tx) error {
			_, err := tx.InsertJob(ctx, store.Job{ID: id, Entity: "doc", Status: store.StatusRunning})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "x.db")
		s, err := store.Open(ctx, "sqlite:"+path, "memflow")
		if err != nil {
			t.Fatal(err)
		}
		insert(t, s, "j1")
		s.Close()

		other, err := store.Open(ctx, "sqlite:"+path, "other")
		if err == nil {
			other.Close()
			t.Fatal("opened app memflow's file for app other")
		}
		if want := fmt.Sprintf("sqlite file %q holds app \"memflow\", not \"other\"", path); err.Error() != want {
			t.Errorf("error %q, want %q", err, want)
		}
		// The file still holds app memflow and its instance.
		s, err = store.Open(ctx, "sqlite:"+path, "memflow")
		if err != nil {
			t.Fatalf("reopen for its own app: %v", err)
		}
		defer s.Close()
		if _, err := s.GetJob(ctx, "j1"); err != nil {
			t.Errorf("after the refused open: %v", err)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		url := postgresURL(t)
		a, b := openPostgres(t, url), openPostgres(t, url)
		insert(t, a, "j1")
		if _, err := b.GetJob(ctx, "j1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("app %s reads app %s's instance: %v", b.App(), a.App(), err)
		}
		if _, err := a.GetJob(ctx, "j1"); err != nil {
			t.Errorf("app %s: %v", a.App(), err)
		}
	})
}
