package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
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

// App ids that differ only in '-' versus '_' name the same Postgres schema
// (and the same default SQLite file name stem): the first to open it owns
// it, the other is refused before anything is written, so team-a and team_a
// never read each other's instances.
func TestAppsSharingASchemaNameAreRefused(t *testing.T) {
	ctx := context.Background()
	check := func(t *testing.T, url, dashed, underscored, want string) {
		a, err := store.Open(ctx, url, dashed)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		err = a.InTx(ctx, func(tx store.Tx) error {
			_, err := tx.InsertJob(ctx, store.Job{ID: "j1", Entity: "doc", Status: store.StatusRunning})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		b, err := store.Open(ctx, url, underscored)
		if err == nil {
			_, gerr := b.GetJob(ctx, "j1")
			b.Close()
			t.Fatalf("app %s opened app %s's store (reading j1: %v)", underscored, dashed, gerr)
		}
		if err.Error() != want {
			t.Errorf("error %q, want %q", err, want)
		}
		// The owner still opens its store, instance intact.
		again, err := store.Open(ctx, url, dashed)
		if err != nil {
			t.Fatalf("reopen for its own app: %v", err)
		}
		defer again.Close()
		if _, err := again.GetJob(ctx, "j1"); err != nil {
			t.Errorf("after the refused open: %v", err)
		}
	}
	t.Run("postgres", func(t *testing.T) {
		url := postgresURL(t)
		underscored := randomApp() // t_<hex>
		dashed := strings.Replace(underscored, "_", "-", 1)
		dropSchemaAtCleanup(t, url, dashed)
		check(t, url, dashed, underscored, fmt.Sprintf(
			`postgres schema %q holds app %q, not %q (app ids that differ only in '-' and '_' share a schema name; choose another app id)`,
			underscored, dashed, underscored))
		// And the other way round: the underscored id first.
		underscored = randomApp()
		dashed = strings.Replace(underscored, "_", "-", 1)
		dropSchemaAtCleanup(t, url, underscored)
		check(t, url, underscored, dashed, fmt.Sprintf(
			`postgres schema %q holds app %q, not %q (app ids that differ only in '-' and '_' share a schema name; choose another app id)`,
			underscored, underscored, dashed))
	})
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "team.db")
		check(t, "sqlite:"+path, "team-a", "team_a", fmt.Sprintf(`sqlite file %q holds app "team-a", not "team_a"`, path))
	})
}

// A schema provisioned before schemas recorded their app is claimed by the
// first app to open it after the upgrade; the other spelling is refused
// from then on.
func TestPostgresSchemaWithoutRecordedAppIsClaimed(t *testing.T) {
	ctx := context.Background()
	url := postgresURL(t)
	underscored := randomApp()
	dashed := strings.Replace(underscored, "_", "-", 1)
	dropSchemaAtCleanup(t, url, underscored)
	s, err := store.Open(ctx, url, dashed)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Back to the layout of an older release: no meta table, its migration
	// not recorded.
	conn := connectSchema(t, url, underscored)
	if _, err := conn.Exec(ctx, `DROP TABLE meta; DELETE FROM schema_migrations WHERE name = '0011_meta.sql'`); err != nil {
		t.Fatal(err)
	}
	s, err = store.Open(ctx, url, dashed)
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	s.Close()
	if _, err := store.Open(ctx, url, underscored); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("holds app %q", dashed)) {
		t.Fatalf("open for %s after %s claimed the upgraded schema: %v", underscored, dashed, err)
	}
}
