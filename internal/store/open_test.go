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

// Open's errors never carry the password, whatever form it takes in the URL,
// and a URL the driver would split other than as written is refused with a
// message that says how to write it.
func TestOpenErrorsHideThePassword(t *testing.T) {
	ctx := context.Background()
	cases := []struct{ url, want string }{
		{"postgres://postgres:Pa55w0rd@127.0.0.1:1/test", "failed to connect"},
		{"postgres://postgres@127.0.0.1:1/test?sslmode=disable&password=Pa55w0rd", "failed to connect"},
		{"postgres://postgres@127.0.0.1:1/test?password=Pa55w0rd&sslmode=disable", "failed to connect"},
		{"postgres://postgres@127.0.0.1:1/test?sslpassword=Pa55w0rd&sslmode=disable", "failed to connect"},
		{"postgres://postgres:Pa55:w0rd@127.0.0.1:1/test", "failed to connect"},
		{"postgres://postgres:Pa55?w0rd@127.0.0.1:1/test", "failed to connect"},
		{"postgres://postgres:Pa55@w0rd@127.0.0.1:1/test", "more than one '@' before the host (write an '@' in the user name or password as %40): postgres://postgres:xxxxx@127.0.0.1:1/test"},
		{"postgres://postgres:Pa55/w0rd@127.0.0.1:1/test", "'@' after a '/' (write a '/' in the user name or password as %2F"},
		{"postgres://postgres:Pa55?w0rd@x@127.0.0.1:1/test", "more than one '@' before the host"},
		{"postgres://postgres@127.0.0.1:1/test?password=Pa55&w0rd", "query parameter 2 is not one key=value pair"},
		{"postgres://postgres@127.0.0.1:1/test?password=Pa55=w0rd", "query parameter 1 is not one key=value pair"},
		{"postgres://postgres:Pa55 w0rd@127.0.0.1:1/test", "unexpected spaces found in password"},
		{"postgres://postgres:Pa55%zzw0rd@127.0.0.1:1/test", "invalid percent-encoded token in password"},
		{"postgres://postgres:Pa55w0rd@127.0.0.1:port/test", "invalid port"},
		{"host=127.0.0.1 port=1 user=postgres password=Pa55w0rd dbname=test", "keyword/value connection strings are not accepted"},
		{"host=127.0.0.1 port=1 password='Pa55 w0rd' dbname=test", "keyword/value connection strings are not accepted"},
		{"mysql://u:Pa55w0rd@127.0.0.1:1/test", "unsupported database url"},
	}
	for _, c := range cases {
		s, err := store.Open(ctx, c.url, "app")
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", c.url)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%q) = %q, want %q", c.url, err, c.want)
		}
		for _, part := range []string{"Pa55", "w0rd"} {
			if strings.Contains(err.Error(), part) {
				t.Errorf("Open(%q) error shows %q: %v", c.url, part, err)
			}
		}
	}
}
