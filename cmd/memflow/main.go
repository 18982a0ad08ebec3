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
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/memflow/memflow"
	"github.com/memflow/memflow/activities"
	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/flows/demo"
	"github.com/memflow/memflow/internal/store"
	"github.com/memflow/memflow/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.opentelemetry.io/otel/trace"
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
	tr, err := tracingFromEnv(ctx)
	if err != nil {
		return report(err, stderr)
	}
	root := newRootCmd(tr.provider())
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err = root.ExecuteContext(tr.parent(ctx))
	// The spans still buffered go out before the process exits, within a
	// few seconds even when the collector does not answer.
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	if ferr := tr.shutdown(flushCtx); ferr != nil {
		fmt.Fprintln(stderr, "memflow:", ferr)
	}
	cancel()
	if err == nil {
		return 0
	}
	return report(err, stderr)
}

// report prints err on stderr and returns the exit status it calls for.
func report(err error, stderr io.Writer) int {
	// The command line cannot register activities: the Go API's hint to
	// register before loading does not apply (the diagnostics say "did you
	// mean").
	var fe *memflow.FlowError
	if errors.As(err, &fe) {
		fe.Hint = ""
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
	// metrics, when set, receives the engine's metrics (worker --metrics-addr).
	metrics prometheus.Registerer
	// tracer, when set, receives the engine's spans (OTEL_* variables:
	// tracing.go).
	tracer trace.TracerProvider
	// logFormat and logLevel shape the engine's log on stderr; logDefault
	// is the level when --log-level is not given (info for worker, else warn).
	logFormat, logLevel string
	logDefault          slog.Level
}

// newRootCmd is the memflow command; its engines send spans to tp (nil:
// tracing off).
func newRootCmd(tp trace.TracerProvider) *cobra.Command {
	g := &globals{tracer: tp}
	root := &cobra.Command{
		Use:           "memflow",
		Short:         "memflow runs durable workflows written in YAML",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(flagError)
	root.PersistentFlags().StringVar(&g.db, "db", "", "database URL (postgres://... or sqlite:PATH); default $MEMFLOW_DATABASE_URL, $DATABASE_URL, then sqlite:.memflow/<app>.db")
	root.PersistentFlags().StringVar(&g.app, "app", memflow.DefaultApp, "app id (Postgres schema; an SQLite file holds one app)")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "engine log format on stderr: text or json")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "", "engine log level: debug, info, warn or error (default info for worker, warn otherwise)")
	g.logDefault = slog.LevelWarn
	root.AddCommand(
		newRunCmd(g), newWorkerCmd(g), newStartCmd(g), newHookCmd(g), newSignalCmd(g), newResultCmd(g),
		newGetCmd(g), newHistoryCmd(g), newFindCmd(g), newIndexCmd(g), newCancelCmd(g), newFlowsCmd(g),
		newMigrateCmd(g), newValidateCmd(binaryActivities()), newGraphCmd(),
		newBenchCmd(g), newVersionCmd(), newStatusCmd(g), newPsCmd(g), newTestCmd(), newServeCmd(g),
	)
	// Shell completion (`memflow completion bash|zsh|fish|powershell`) of
	// workflow names and instance ids, read from the database.
	for _, c := range root.Commands() {
		switch c.Name() {
		case "start":
			c.ValidArgsFunction = g.completeWorkflows
		case "get", "result", "history", "hook", "signal", "cancel", "status":
			if c.ValidArgsFunction == nil {
				c.ValidArgsFunction = g.completeIDs
			}
		}
	}
	// --version prints what `memflow version` prints.
	root.Version = "set" // makes cobra add --version
	root.SetVersionTemplate(buildVersion(debug.ReadBuildInfo()) + "\n")
	return root
}

// flagError makes a flag error a usage error, suggesting the command's
// flag nearest to a misspelled one: `unknown flag: --wokflow (did you
// mean --workflow?)`.
func flagError(cmd *cobra.Command, err error) error {
	name, ok := strings.CutPrefix(err.Error(), "unknown flag: --")
	if !ok {
		return usageErr("%v", err)
	}
	name, _, _ = strings.Cut(name, "=")
	best, bestD := "", 3 // at most two edits away
	seen := func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		d := compiler.EditDistance(name, f.Name)
		if len(name) >= 3 && strings.HasPrefix(f.Name, name) {
			d = 1 // the start of a flag's name
		}
		if d < bestD || d == bestD && f.Name < best {
			best, bestD = f.Name, d
		}
	}
	cmd.Flags().VisitAll(seen)
	cmd.InheritedFlags().VisitAll(seen)
	if best == "" || bestD > max(1, len(name)/3) {
		return usageErr("%v\nusage: %s (memflow %s --help lists the flags)", err, cmd.UseLine(), cmd.Name())
	}
	return usageErr("%v (did you mean --%s?)", err, best)
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
	return g.openWith(ctx, logw, memflow.Open)
}

// openExisting is open for commands that only read (get, find, history,
// result, status, ps): it creates no database file or schema, and an app
// the database does not hold is an error naming the apps it does.
func (g *globals) openExisting(ctx context.Context, logw io.Writer) (*memflow.Engine, error) {
	return g.openWith(ctx, logw, memflow.OpenExisting)
}

// withExisting is withEngine for commands that only read (openExisting).
func (g *globals) withExisting(cmd *cobra.Command, fn func(ctx context.Context, eng *memflow.Engine) error) error {
	ctx := cmd.Context()
	eng, err := g.openExisting(ctx, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer eng.Close()
	return fn(ctx, eng)
}

func (g *globals) openWith(ctx context.Context, logw io.Writer,
	openFn func(context.Context, string, memflow.Config) (*memflow.Engine, error)) (*memflow.Engine, error) {
	logger, err := g.logger(logw)
	if err != nil {
		return nil, err
	}
	if err := g.http.check(); err != nil {
		return nil, err
	}
	maxBody, _ := g.http.maxBodyBytes()
	eng, err := openFn(ctx, g.url(), memflow.Config{App: g.app, Logger: logger,
		HTTPAllow: g.http.allow, HTTPMaxBody: maxBody, Metrics: g.metrics, TracerProvider: g.tracer})
	if err != nil {
		return nil, err
	}
	if err := demo.Register(eng); err != nil {
		eng.Close()
		return nil, err
	}
	return eng, nil
}

// logger is the engine's logger on w as --log-format and --log-level say,
// with database passwords masked.
func (g *globals) logger(w io.Writer) (*slog.Logger, error) {
	level := g.logDefault
	if g.logLevel != "" {
		if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
			return nil, usageErr("--log-level %q: use debug, info, warn or error", g.logLevel)
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch g.logFormat {
	case "text", "":
		return slog.New(slog.NewTextHandler(redactingWriter{w}, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(redactingWriter{w}, opts)), nil
	}
	return nil, usageErr("--log-format %q: use text or json", g.logFormat)
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

// printJSON writes v as indented JSON to stdout, the same from either
// store: every JSON document in it (an entity, input, result or history
// detail: a json.RawMessage, alone or in an Instance or Event) is re-encoded
// with its object keys sorted, as encoding/json writes maps, since Postgres
// returns jsonb with its own key order and spacing. Numbers keep their
// exact text.
func printJSON(w io.Writer, v any) error {
	b, err := canonicalJSON(v)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, buf.String())
	return err
}

// canonicalJSON encodes v, with the JSON documents in it in canonical form
// (canonRaw). Commands that print other types holding json.RawMessage
// fields canonicalise those fields with canonRaw first.
func canonicalJSON(v any) ([]byte, error) {
	var err error
	canon := func(raw json.RawMessage) json.RawMessage {
		c, e := canonRaw(raw)
		if e != nil && err == nil {
			err = e
		}
		return c
	}
	instance := func(in *memflow.Instance) *memflow.Instance {
		if in == nil {
			return nil
		}
		c := *in
		c.Entity, c.Input, c.Result = canon(c.Entity), canon(c.Input), canon(c.Result)
		return &c
	}
	switch x := v.(type) {
	case json.RawMessage:
		if len(x) == 0 {
			x = json.RawMessage("null")
		}
		v = canon(x)
	case *memflow.Instance:
		v = instance(x)
	case []*memflow.Instance:
		out := make([]*memflow.Instance, len(x))
		for i, in := range x {
			out[i] = instance(in)
		}
		v = out
	case []memflow.Event:
		out := make([]memflow.Event, len(x))
		for i, ev := range x {
			ev.Detail = canon(ev.Detail)
			out[i] = ev
		}
		v = out
	}
	if err != nil {
		return nil, err
	}
	return encodeJSON(v)
}

// canonRaw re-encodes a JSON document with object keys sorted, no spaces
// and numbers exactly as written; empty stays empty (an omitted field).
func canonRaw(raw json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return raw, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("print json: %w", err)
	}
	return encodeJSON(v)
}

// encodeJSON is json.Marshal without escaping <, > and & (output for
// people, not for HTML).
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
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
