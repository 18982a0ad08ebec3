package main

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// The three reported forms of a database URL with a password (in the user
// info with an unescaped '@', in the query, in a keyword/value connection
// string), unreachable or refused: whatever command runs, and whether the
// URL comes from --db or the environment, no piece of the password reaches
// stdout or stderr.
func TestDatabasePasswordNeverPrinted(t *testing.T) {
	forms := []struct {
		name, url string
		secret    []string // the password, and the pieces a parser could split it into
	}{
		{"query", "postgres://postgres@127.0.0.1:1/test?sslmode=disable&password=Qu3ryS3cret", []string{"Qu3ryS3cret"}},
		{"keyword/value", "host=127.0.0.1 port=1 user=postgres password=KvS3cret dbname=test", []string{"KvS3cret"}},
		{"unescaped @", "postgres://postgres:At5ecret@Pieces@127.0.0.1:1/test", []string{"At5ecret", "Pieces"}},
	}
	commands := [][]string{
		{"migrate"},
		{"flows"},
		{"find", "doc", "--where", `{"a":1}`},
		{"run", "../../flows/examples/research-agent.yaml", "--args", `{"query":"q"}`},
		{"bench", "--workflows", "1"},
	}
	check := func(t *testing.T, code int, out, errs string, secret []string) {
		t.Helper()
		if code == 0 {
			t.Fatalf("exit 0 on an unreachable database:\n%s", errs)
		}
		if !strings.Contains(errs, "memflow: ") {
			t.Errorf("stderr %q has no error", errs)
		}
		for _, s := range secret {
			if strings.Contains(out, s) || strings.Contains(errs, s) {
				t.Errorf("password piece %q printed:\nstdout: %s\nstderr: %s", s, out, errs)
			}
		}
	}
	for _, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			for _, c := range commands {
				code, out, errs := cli(t, append(c, "--db", f.url)...)
				check(t, code, out, errs, f.secret)
			}
			// The same URL from the environment.
			t.Setenv("MEMFLOW_DATABASE_URL", f.url)
			code, out, errs := cli(t, "flows")
			check(t, code, out, errs, f.secret)
			t.Logf("%s", errs)
		})
	}
}

// What the engine logs on the CLI's stderr is masked too, in both
// --log-format text and json.
func TestEngineLogHidesPasswords(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		g := &globals{logFormat: format, logDefault: slog.LevelWarn}
		logger, err := g.logger(&buf)
		if err != nil {
			t.Fatal(err)
		}
		logger.Warn("claim failed", "err", errors.New("dial postgres://u:L0gS3cret@h/db?sslpassword=L0gS3cret2 failed"))
		if got := buf.String(); strings.Contains(got, "L0gS3cret") || !strings.Contains(got, "postgres://u:xxxxx@h/db") {
			t.Errorf("%s log line %q", format, got)
		}
	}
}
