package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/memflow/memflow/internal/pgtest"
)

// Read commands never create a database file or schema: a misspelled --app
// or a wrong folder is an error naming the apps that are there, exit 1.
func TestReadCommandsCreateNothing(t *testing.T) {
	reads := [][]string{{"get", "x"}, {"find", "doc"}, {"result", "x"}, {"result", "x", "--wait", "--timeout", "1s"}, {"history", "x"}, {"status", "x"}, {"ps"}}
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		// An app in the folder, so the message has one to offer.
		if code, _, errs := cli(t, "run", "../../flows/examples/research-agent.yaml", "--quiet", "--args", `{"query":"q"}`,
			"--db", "sqlite:"+filepath.Join(dir, "memflow.db")); code != 0 {
			t.Fatal(errs)
		}
		missing := filepath.Join(dir, "memfow.db")
		for _, a := range reads {
			code, out, errs := cli(t, append(a, "--db", "sqlite:"+missing, "--app", "memfow")...)
			want := `memflow: no memflow app "memfow": there is no database file ` + missing + " (apps in that folder: memflow)\n"
			if code != 1 || errs != want || out != "" {
				t.Errorf("%v: exit %d, stdout %q, stderr %q; want 1 and %q", a, code, out, errs, want)
			}
			if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%v created %s", a, missing)
			}
		}
		// The existing file opened for another app.
		code, _, errs := cli(t, "get", "x", "--db", "sqlite:"+filepath.Join(dir, "memflow.db"), "--app", "my_app")
		if want := "memflow: no memflow app \"my_app\" in this database (apps here: memflow)\n"; code != 1 || errs != want {
			t.Errorf("other app: exit %d %q", code, errs)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := pgtest.URL(t)
		app := pgtest.App(t, url) // dropped at cleanup should a command create it
		for _, a := range reads {
			code, out, errs := cli(t, append(a, "--db", url, "--app", app)...)
			if want := `memflow: no memflow app "` + app + `" in this database (apps here: `; code != 1 || !strings.HasPrefix(errs, want) || out != "" {
				t.Errorf("%v: exit %d, stdout %q, stderr %q; want 1 and %q...", a, code, out, errs, want)
			}
		}
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1`, app).Scan(&n); err != nil || n != 0 {
			t.Errorf("a read command created schema %s (%d, %v)", app, n, err)
		}
	})
}
