package store_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memflow/memflow/internal/store"
)

func TestOpenURLs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, u := range []string{"sqlite:" + filepath.Join(dir, "a.db"), "sqlite://" + filepath.Join(dir, "b.sqlite"), filepath.Join(dir, "c.db")} {
		s, err := store.Open(ctx, u, "my-app")
		if err != nil {
			t.Errorf("Open(%q): %v", u, err)
			continue
		}
		if s.Dialect() != "sqlite" || s.App() != "my-app" {
			t.Errorf("Open(%q) = %s store for %s", u, s.Dialect(), s.App())
		}
		s.Close()
	}
	for _, n := range []string{"a.db", "b.sqlite", "c.db"} {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("database file %s: %v", n, err)
		}
	}
	bad := []struct{ url, app, want string }{
		{"mysql://x", "app", "unsupported database url"},
		{"postgres://u:secret@127.0.0.1:1/x", "Bad", `invalid app id "Bad"`},
		{"x.db", "1app", `invalid app id "1app"`},
		{"x.db", "a;drop", `invalid app id`},
		{"x.db", strings.Repeat("a", 64), `invalid app id`},
		{"sqlite:", "app", "invalid path"},
	}
	for _, b := range bad {
		_, err := store.Open(ctx, b.url, b.app)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("Open(%q, %q) err = %v, want %q", b.url, b.app, err, b.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("error leaks the password: %v", err)
		}
	}
	if got := store.SchemaName("my-app"); got != "my_app" {
		t.Errorf("SchemaName(my-app) = %q", got)
	}
}
