package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/memflow/memflow/internal/pgtest"
	"github.com/memflow/memflow/runtime"
)

// dbFlags is one database the CLI runs against: --db and --app.
type dbFlags struct{ db, app string }

func (s dbFlags) flags() []string { return []string{"--db", s.db, "--app", s.app} }

// eachStore runs fn on an SQLite file and on a fresh Postgres schema.
func eachStore(t *testing.T, fn func(t *testing.T, s dbFlags)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, dbFlags{db: "sqlite:" + filepath.Join(t.TempDir(), "m.db"), app: "memflow"})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := pgtest.URL(t)
		fn(t, dbFlags{db: url, app: pgtest.App(t, url)})
	})
}

// cliIn runs the CLI with stdin as its standard input.
func cliIn(t *testing.T, stdin io.Reader, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := runIn(ctx, args, stdin, &out, &errb)
	return code, out.String(), errb.String()
}

// exactFlow copies its input and a signal's data into the entity, on both
// sides of a resume (the wait), and returns them.
const exactFlow = `memflow: v1
workflows:
  exact:
    entity: exact
    steps:
      - set: { n: "${ input.n }" }
      - id: more
        wait: more
      - merge: { m: "${ steps.more.m }", again: "${ input.n }" }
      - return: { n: "${ input.n }", m: "${ steps.more.m }" }
`

// Integers above 2^53 pass through the CLI exactly: --args (inline, @file
// and stdin) and --data in, result, get, get PATH, get --instance and find
// out. Before, the CLI decoded them as float64 and stored
// 9007199254740992.
func TestCLIKeepsIntegersExact(t *testing.T) {
	eachStore(t, func(t *testing.T, s dbFlags) {
		dir := t.TempDir()
		flow := filepath.Join(dir, "exact.yaml")
		write(t, flow, exactFlow)
		data := filepath.Join(dir, "data.json")
		write(t, data, `{"m": -9223372036854775808}`)

		done := make(chan struct{})
		var code int
		var out, errs string
		go func() {
			defer close(done)
			code, out, errs = cli(t, append([]string{"run", flow, "--id", "e1", "--quiet",
				"--args", `{"n": 9007199254740993}`}, s.flags()...)...)
		}()
		waitFor(t, func() bool {
			c, got, _ := cli(t, append([]string{"get", "e1", "n"}, s.flags()...)...)
			return c == 0 && strings.TrimSpace(got) == "9007199254740993"
		})
		if c, _, e := cli(t, append([]string{"signal", "e1", "more", "--data", "@" + data}, s.flags()...)...); c != 0 {
			t.Fatalf("signal: %s", e)
		}
		<-done
		want := "{\n  \"m\": -9223372036854775808,\n  \"n\": 9007199254740993\n}\n"
		if code != 0 || out != want {
			t.Fatalf("run: exit %d, result %q (want %q)\n%s", code, out, want, errs)
		}
		if c, got, e := cli(t, append([]string{"result", "e1"}, s.flags()...)...); c != 0 || got != want {
			t.Errorf("result: exit %d %q %s", c, got, e)
		}
		c, got, e := cli(t, append([]string{"get", "e1"}, s.flags()...)...)
		for _, w := range []string{`"n": 9007199254740993`, `"again": 9007199254740993`, `"m": -9223372036854775808`} {
			if c != 0 || !strings.Contains(got, w) {
				t.Errorf("get: exit %d, want %s in %q %s", c, w, got, e)
			}
		}
		if c, got, _ := cli(t, append([]string{"get", "e1", "again"}, s.flags()...)...); c != 0 || got != "9007199254740993\n" {
			t.Errorf("get again: exit %d %q", c, got)
		}
		if c, got, _ := cli(t, append([]string{"get", "e1", "--instance"}, s.flags()...)...); c != 0 ||
			!strings.Contains(got, `"input": {`+"\n"+`    "n": 9007199254740993`) {
			t.Errorf("get --instance: exit %d %q", c, got)
		}
		// find compares the whole number exactly: its float neighbour
		// matches nothing.
		if c, got, e := cli(t, append([]string{"find", "exact", "--where", `{"n": 9007199254740993}`}, s.flags()...)...); c != 0 || !strings.Contains(got, `"e1"`) {
			t.Errorf("find exact: exit %d %q %s", c, got, e)
		}
		if c, got, e := cli(t, append([]string{"find", "exact", "--where", `{"n": 9007199254740992}`}, s.flags()...)...); c != 0 || strings.TrimSpace(got) != "[]" {
			t.Errorf("find neighbour: exit %d %q %s", c, got, e)
		}

		// start reads --args from standard input; its instance waits.
		c, got, e = cliIn(t, strings.NewReader(`{"n": 18014398509481985}`),
			append([]string{"start", "exact", "--id", "e2", "--args", "-"}, s.flags()...)...)
		if c != 0 || strings.TrimSpace(got) != "e2" {
			t.Fatalf("start --args -: exit %d %q %s", c, got, e)
		}
		if c, got, _ := cli(t, append([]string{"get", "e2"}, s.flags()...)...); c != 0 || !strings.Contains(got, `"n": 18014398509481985`) {
			t.Errorf("get e2: exit %d %q", c, got)
		}
	})
}

// A whole number int64 cannot hold is refused, naming it and where it is,
// instead of being stored as a rounded float.
func TestCLIRefusesIntegersBeyond64Bits(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
	flow := filepath.Join(t.TempDir(), "exact.yaml")
	write(t, flow, exactFlow)
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"run", flow, "--args", `{"n": 123456789012345678901234567890}`},
			"--args: whole number 123456789012345678901234567890 at .n is outside the 64-bit integer range"},
		{[]string{"start", "exact", "--args", `{"n": [1, {"x y": 9223372036854775808}]}`},
			`--args: whole number 9223372036854775808 at .n[1]["x y"] is outside the 64-bit integer range`},
		{[]string{"signal", "nobody", "s", "--data", `-9223372036854775809`},
			"--data: whole number -9223372036854775809 at the top is outside the 64-bit integer range"},
		{[]string{"hook", "nobody", "h", "--args", `{"a": 1e400}`}, "--args: number 1e400 at .a is outside the range of a 64-bit float"},
	} {
		code, _, errs := cli(t, append(tc.args, "--db", db)...)
		if code != 2 || !strings.Contains(errs, tc.msg) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errs, tc.msg)
		}
	}
}

// nested is a JSON array nested depth levels deep.
func nested(depth int) string {
	return strings.Repeat("[", depth) + strings.Repeat("]", depth)
}

// Values nested deeper than runtime.MaxNesting are refused by every JSON flag
// and from every source, with the depth and the limit; one exactly at the
// limit is accepted.
func TestCLINestingDepth(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "m.db")
	flow := filepath.Join(dir, "exact.yaml")
	write(t, flow, exactFlow)
	deep := filepath.Join(dir, "deep.json")
	write(t, deep, `{"n": `+nested(runtime.MaxNesting)+`}`)
	msg := fmt.Sprintf("nested %d levels deep; the limit is %d", runtime.MaxNesting+1, runtime.MaxNesting)
	for _, tc := range []struct {
		args  []string
		stdin string
		msg   string
	}{
		{args: []string{"run", flow, "--args", "@" + deep}, msg: "--args @" + deep + ": value is " + msg},
		{args: []string{"start", "exact", "--args", "-"}, stdin: `{"n": ` + nested(runtime.MaxNesting) + `}`,
			msg: "--args - (standard input): value is " + msg},
		{args: []string{"signal", "x", "s", "--data", nested(9990)}, msg: "--data: value is nested 9990 levels deep; the limit is 100"},
		{args: []string{"hook", "x", "h", "--args", `[` + nested(runtime.MaxNesting) + `]`}, msg: "--args: value is " + msg},
		// Brackets inside strings do not count.
		{args: []string{"signal", "x", "s", "--data", `"` + strings.Repeat("[{", 500) + `"`}, msg: ""},
	} {
		code, _, errs := cliIn(t, strings.NewReader(tc.stdin), append(tc.args, "--db", db)...)
		want := 2
		if tc.msg == "" {
			want = 0 // accepted: kept for an instance x to start
		}
		if code != want || !strings.Contains(errs, tc.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errs, want, tc.msg)
		}
	}
	// At the limit: the entity holds it, and get prints it back.
	write(t, deep, `{"n": `+nested(runtime.MaxNesting-1)+`}`)
	done := make(chan string)
	go func() {
		_, _, e := cli(t, "run", flow, "--args", "@"+deep, "--id", "d", "--quiet", "--db", db)
		done <- e
	}()
	waitFor(t, func() bool {
		c, got, _ := cli(t, "get", "d", "n", "--db", db)
		return c == 0 && strings.Count(got, "[") == runtime.MaxNesting-1
	})
	if c, _, e := cli(t, "cancel", "d", "--db", db); c != 0 {
		t.Errorf("cancel: %s", e)
	}
	if e := <-done; !strings.Contains(e, "cancelled") {
		t.Errorf("run at the depth limit: %s", e)
	}
}

// endless is standard input that never ends; it counts what was read.
type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	e.n += len(p)
	return len(p), nil
}

// A payload over runtime.MaxPayload is refused by size, naming the flag,
// the limit and its source, after reading at most one byte past the limit:
// endless input would otherwise never finish.
func TestCLIPayloadLimit(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "m.db")
	big := filepath.Join(dir, "big.json")
	write(t, big, `"`+strings.Repeat("x", runtime.MaxPayload)+`"`)
	limit := fmt.Sprintf("more than the %d byte limit", runtime.MaxPayload)
	if c, _, e := cli(t, "signal", "x", "s", "--data", "@"+big, "--db", db); c != 2 || !strings.Contains(e, "--data @"+big+": "+limit) {
		t.Errorf("--data @big: exit %d %q", c, e)
	}
	in := &endless{}
	if c, _, e := cliIn(t, in, "start", "w", "--args", "-", "--db", db); c != 2 || !strings.Contains(e, "--args - (standard input): "+limit) {
		t.Errorf("--args - endless: exit %d %q", c, e)
	}
	if in.n > runtime.MaxPayload+64<<10 {
		t.Errorf("read %d bytes of standard input for a %d byte limit", in.n, runtime.MaxPayload)
	}
	if c, _, e := cli(t, "hook", "x", "h", "--args", "@"+filepath.Join(dir, "missing.json"), "--db", db); c != 2 ||
		!strings.Contains(e, "--args @"+filepath.Join(dir, "missing.json")+": open ") {
		t.Errorf("--args @missing: exit %d %q", c, e)
	}
	if c, _, e := cli(t, "find", "e", "--where", "@"+big, "--db", db); c != 2 || !strings.Contains(e, "--where @"+big+": "+limit) {
		t.Errorf("--where @big: exit %d %q", c, e)
	}
	// Just under the limit is read whole (and kept for an instance x).
	write(t, big, `"`+strings.Repeat("x", runtime.MaxPayload-2)+`"`)
	if c, _, e := cli(t, "signal", "x", "s", "--data", "@"+big, "--db", db); c != 0 {
		t.Errorf("--data at the limit: exit %d %q", c, e)
	}
}

func TestCLIFindLimit(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
	for _, n := range []string{"-1", "0"} {
		if c, _, e := cli(t, "find", "e", "--limit", n, "--db", db); c != 2 || !strings.Contains(e, "find: --limit must be 1 or more, got "+n) {
			t.Errorf("--limit %s: exit %d %q", n, c, e)
		}
	}
}

// Ids are bounded in bytes and must be printable UTF-8.
func TestCLIIDRule(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
	flow := filepath.Join(t.TempDir(), "exact.yaml")
	write(t, flow, exactFlow)
	for _, tc := range []struct{ id, msg string }{
		{strings.Repeat("é", 101), "workflow id of 202 bytes exceeds the 200 byte limit"},
		{"a\nb", `workflow id "a\nb" holds control character U+000A at byte 1`},
		{"a\xffb", `workflow id "a\xffb" is not valid UTF-8`},
	} {
		if c, _, e := cli(t, "run", flow, "--id", tc.id, "--args", `{"n":1}`, "--db", db); c != 1 || !strings.Contains(e, tc.msg) {
			t.Errorf("id %q: exit %d %q; want %q", tc.id, c, e, tc.msg)
		}
	}
	// 100 two-byte characters fit.
	if c, _, e := cli(t, "start", "exact", "--id", strings.Repeat("é", 100), "--args", `{"n":1}`, "--db", db); c != 0 {
		t.Errorf("id of 200 bytes: exit %d %s", c, e)
	}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds, failing the test after 30 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
