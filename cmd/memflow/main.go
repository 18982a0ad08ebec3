// Command memflow runs, validates and inspects memflow flows.
//
// Every command that touches a database takes --db (else MEMFLOW_DATABASE_URL,
// else DATABASE_URL, else the embedded default sqlite:.memflow/<app>.db, so
// sqlite:.memflow/memflow.db for the default app) and --app (default
// "memflow"; an SQLite file holds one app and refuses another). Results
// print as JSON on stdout; progress and errors go to stderr. Exit status: 0
// success, 1 a failed workflow or an invalid flow, 2 a usage error.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/memflow/memflow"
	"github.com/memflow/memflow/activities"
	"github.com/memflow/memflow/flows/demo"
	"github.com/memflow/memflow/internal/store"
	"github.com/memflow/memflow/runtime"
	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// exitError carries an exit status.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// run executes the CLI and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runIn(ctx, args, os.Stdin, stdout, stderr)
}

// runIn is run with stdin as the standard input (`--args -`).
func runIn(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	// Whatever produced the error, a database password never reaches the
	// terminal or a log.
	fmt.Fprintln(stderr, "memflow:", store.Redact(err.Error()))
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if strings.HasPrefix(err.Error(), "unknown command") {
		return 2
	}
	return 1 // a failed workflow, an invalid flow or an operational error
}

// globals are the flags every database command shares.
type globals struct {
	db  string
	app string

	http httpFlags // worker and run only (httpflags.go)
}

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "memflow",
		Short:         "memflow runs durable workflows written in YAML",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr("%v", err) })
	root.PersistentFlags().StringVar(&g.db, "db", "", "database URL (postgres://... or sqlite:PATH); default $MEMFLOW_DATABASE_URL, $DATABASE_URL, then sqlite:.memflow/<app>.db")
	root.PersistentFlags().StringVar(&g.app, "app", memflow.DefaultApp, "app id (Postgres schema; an SQLite file holds one app)")
	root.AddCommand(
		newRunCmd(g), newWorkerCmd(g), newStartCmd(g), newHookCmd(g), newSignalCmd(g), newResultCmd(g),
		newGetCmd(g), newHistoryCmd(g), newFindCmd(g), newIndexCmd(g), newCancelCmd(g), newFlowsCmd(g),
		newMigrateCmd(g), newValidateCmd(binaryActivities()), newGraphCmd(),
		newBenchCmd(g), newStatusCmd(g), newPsCmd(g),
	)
	return root
}

// binaryActivities are the activities this binary registers: the built-ins
// and the demo activities.
func binaryActivities() *activities.Registry {
	r := activities.NewRegistry()
	if err := demo.Register(r); err != nil {
		panic(err) // the demo names are fixed and valid
	}
	return r
}

// args checks the number of positional arguments, as a usage error.
func args(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if len(a) < min || (max >= 0 && len(a) > max) {
			return usageErr("%s: wrong number of arguments\nusage: %s", cmd.Name(), cmd.UseLine())
		}
		return nil
	}
}

func (g *globals) url() string {
	for _, u := range []string{g.db, os.Getenv("MEMFLOW_DATABASE_URL"), os.Getenv("DATABASE_URL")} {
		if u != "" {
			return u
		}
	}
	return memflow.DefaultDatabaseFor(g.app)
}

// open opens the engine with the demo activities registered.
func (g *globals) open(ctx context.Context, logw io.Writer) (*memflow.Engine, error) {
	logger := slog.New(slog.NewTextHandler(redactingWriter{logw}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := g.http.check(); err != nil {
		return nil, err
	}
	maxBody, _ := g.http.maxBodyBytes()
	eng, err := memflow.Open(ctx, g.url(), memflow.Config{App: g.app, Logger: logger,
		HTTPAllow: g.http.allow, HTTPMaxBody: maxBody})
	if err != nil {
		return nil, err
	}
	if err := demo.Register(eng); err != nil {
		eng.Close()
		return nil, err
	}
	return eng, nil
}

// withEngine runs fn with an open engine and closes it.
func (g *globals) withEngine(cmd *cobra.Command, fn func(ctx context.Context, eng *memflow.Engine) error) error {
	ctx := cmd.Context()
	eng, err := g.open(ctx, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer eng.Close()
	return fn(ctx, eng)
}

// readPayload reads a JSON flag's value: the text itself, @FILE for a
// file's contents or - for standard input (payloads beyond the shell's
// argument limit). At most runtime.MaxPayload bytes are read: a larger body
// is refused before it is read whole.
func readPayload(cmd *cobra.Command, flag, s string) ([]byte, error) {
	var r io.Reader
	switch {
	case s == "-":
		r = cmd.InOrStdin()
	case strings.HasPrefix(s, "@"):
		f, err := os.Open(s[1:])
		if err != nil {
			return nil, usageErr("--%s %s: %v", flag, s, err)
		}
		defer f.Close()
		r = f
	default:
		if len(s) > runtime.MaxPayload {
			return nil, usageErr("--%s: %d bytes exceed the %d byte limit (%d MiB)", flag, len(s), runtime.MaxPayload, runtime.MaxPayload>>20)
		}
		return []byte(s), nil
	}
	b, err := io.ReadAll(io.LimitReader(r, runtime.MaxPayload+1))
	if err != nil {
		return nil, usageErr("%s: %v", payloadName(flag, s), err)
	}
	if len(b) > runtime.MaxPayload {
		return nil, usageErr("%s: more than the %d byte limit (%d MiB)", payloadName(flag, s), runtime.MaxPayload, runtime.MaxPayload>>20)
	}
	return b, nil
}

// payloadName names a JSON flag and where its value came from in messages:
// `--args`, `--args @big.json`, `--data - (standard input)`.
func payloadName(flag, s string) string {
	switch {
	case s == "-":
		return "--" + flag + " - (standard input)"
	case strings.HasPrefix(s, "@"):
		return "--" + flag + " " + s
	}
	return "--" + flag
}

// parseJSON reads a --args/--data flag value (see readPayload) and returns
// it as raw JSON, so every number reaches the store exactly as written. It
// refuses what the engine would: more than runtime.MaxNesting levels of
// nesting, whole numbers beyond 64 bits.
func parseJSON(cmd *cobra.Command, flag, s string) (any, error) {
	if s == "" {
		return nil, nil
	}
	b, err := readPayload(cmd, flag, s)
	if err != nil {
		return nil, err
	}
	if !json.Valid(b) {
		var v any
		err := json.Unmarshal(b, &v)
		return nil, usageErr("%s is not valid JSON: %v", payloadName(flag, s), err)
	}
	if err := runtime.CheckJSON(b); err != nil {
		return nil, usageErr("%s: %v", payloadName(flag, s), err)
	}
	return json.RawMessage(b), nil
}

// printJSON writes v as indented JSON to stdout; raw JSON keeps its numbers
// exactly as stored.
func printJSON(w io.Writer, v any) error {
	var b []byte
	if raw, ok := v.(json.RawMessage); ok {
		if len(raw) == 0 {
			raw = json.RawMessage("null")
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, raw, "", "  "); err != nil {
			return err
		}
		b = buf.Bytes()
	} else {
		var err error
		if b, err = json.MarshalIndent(v, "", "  "); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(w, string(b))
	return err
}

// redactingWriter masks database passwords in what the engine logs (a
// worker's log line can quote a database error). The slog handler writes one
// whole record per call, so a password never straddles two writes.
type redactingWriter struct{ w io.Writer }

func (r redactingWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(r.w, store.Redact(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
