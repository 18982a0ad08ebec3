package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/memflow/memflow"
	"github.com/memflow/memflow/internal/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
)

func newWorkerCmd(g *globals) *cobra.Command {
	var flows []string
	var queues []string
	var concurrency int
	var watch bool
	var metricsAddr string
	cmd := &cobra.Command{
		Use:   "worker [--flows DIR]...",
		Short: "Load flows and work on tasks until interrupted",
		Args:  args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			g.logDefault = slog.LevelInfo
			var reg *prometheus.Registry
			if metricsAddr != "" {
				reg = prometheus.NewRegistry()
				reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
				g.metrics = reg
			}
			return g.withEngine(cmd, func(ctx context.Context, eng *memflow.Engine) error {
				if reg != nil {
					stop, err := serveMetrics(metricsAddr, reg, cmd.ErrOrStderr())
					if err != nil {
						return err
					}
					defer stop()
				}
				if watch && len(flows) == 0 {
					return usageErr("worker: --watch needs --flows")
				}
				if len(flows) > 0 && !watch {
					if err := eng.LoadFlows(ctx, flows...); err != nil {
						return err
					}
				}
				if watch { // watch.go: loads, then reloads; bad flows keep the previous versions serving
					stop, err := startWatch(ctx, eng, flows, cmd.ErrOrStderr())
					if err != nil {
						return err
					}
					defer stop()
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "worker serving %v (workflows: %v)\n", queuesOrAll(queues), eng.Workflows())
				return eng.Run(ctx, memflow.WorkerConfig{Queues: queues, Concurrency: concurrency})
			})
		},
	}
	cmd.Flags().StringSliceVar(&flows, "flows", nil, "flow files or folders to load (stored workflows run without)")
	cmd.Flags().StringSliceVar(&queues, "queue", nil, "task queues to serve (default all)")
	cmd.Flags().IntVar(&concurrency, "concurrency", 10, "tasks in flight at once")
	cmd.Flags().BoolVar(&watch, "watch", false, "reload flow files when they change")
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9464)")
	g.http.add(cmd)
	return cmd
}

// serveMetrics serves reg at http://addr/metrics until stop is called.
func serveMetrics(addr string, reg *prometheus.Registry, w io.Writer) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	go func() { _ = srv.Serve(ln) }()
	fmt.Fprintf(w, "metrics at http://%s/metrics\n", ln.Addr())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

func queuesOrAll(q []string) any {
	if len(q) == 0 {
		return "all queues"
	}
	return q
}

// startAs starts workflow wf with input, as instance id when one is given.
func startAs(ctx context.Context, eng *memflow.Engine, wf string, input any, id string, more ...memflow.StartOption) (string, error) {
	var opts []memflow.StartOption
	if id != "" {
		opts = append(opts, memflow.WithID(id))
	}
	return eng.Start(ctx, wf, input, append(opts, more...)...)
}

// startFlags are the start options of start (and signal --start).
type startFlags struct {
	queue      string
	expire     time.Duration
	entityJSON string
}

func (f *startFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.queue, "queue", "", "task queue of the instance (default: the workflow's taskQueue)")
	cmd.Flags().DurationVar(&f.expire, "expire", 0, "delete the instance's rows this long after it ends (default: keep them)")
	cmd.Flags().StringVar(&f.entityJSON, "entity", "", "initial entity document (a JSON object): JSON, @FILE, or - for standard input")
}

func (f *startFlags) options(cmd *cobra.Command) ([]memflow.StartOption, error) {
	var opts []memflow.StartOption
	if f.queue != "" {
		opts = append(opts, memflow.WithTaskQueue(f.queue))
	}
	if f.expire < 0 {
		return nil, usageErr("--expire must not be negative, got %s", f.expire)
	}
	if f.expire > 0 {
		opts = append(opts, memflow.WithExpire(f.expire))
	}
	if cmd.Flags().Changed("entity") {
		doc, err := parseJSON(cmd, "entity", f.entityJSON)
		if err != nil {
			return nil, err
		}
		opts = append(opts, memflow.WithEntity(doc))
	}
	return opts, nil
}

func newStartCmd(g *globals) *cobra.Command {
	var argsJSON, id string
	var asJSON bool
	var sf startFlags
	cmd := &cobra.Command{
		Use:   "start WORKFLOW",
		Short: "Start a workflow (newest stored version) and print its id",
		Args:  args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			input, err := parseJSON(cmd, "args", argsJSON)
			if err != nil {
				return err
			}
			opts, err := sf.options(cmd)
			if err != nil {
				return err
			}
			return g.withEngine(cmd, func(ctx context.Context, eng *memflow.Engine) error {
				wid, err := startAs(ctx, eng, a[0], input, id, opts...)
				if err != nil {
					return err
				}
				if st, err := eng.Status(ctx, wid); err == nil && st.Status == memflow.StatusRunning {
					warnIdle(ctx, eng, cmd.ErrOrStderr(), st, g) // status.go
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), map[string]string{"id": wid, "workflow": a[0]})
				}
				_, err = fmt.Fprintln(cmd.OutOrStdout(), wid)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&argsJSON, "args", "", "start arguments: JSON, @FILE, or - for standard input")
	cmd.Flags().StringVar(&id, "id", "", "workflow id (default: generated; an existing instance of this workflow is returned as is, another workflow's is an error)")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"id": ..., "workflow": ...} instead of the bare id`)
	sf.add(cmd)
	return cmd
}

func newHookCmd(g *globals) *cobra.Command {
	var argsJSON string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "hook ID HOOK",
		Short: "Start a hook on a running instance's entity",
		Args:  args(2, 2),
		RunE: func(cmd *cobra.Command, a []string) error {
			input, err := parseJSON(cmd, "args", argsJSON)
			if err != nil {
				return err
			}
			return g.withEngine(cmd, func(ctx context.Context, eng *memflow.Engine) error {
				if err := eng.Hook(ctx, a[0], a[1], input); err != nil {
					return err
				}
				return confirm(cmd, asJSON, fmt.Sprintf("started hook %q on %s", a[1], a[0]),
					map[string]any{"id": a[0], "hook": a[1], "started": true})
			})
		},
	}
	cmd.Flags().StringVar(&argsJSON, "args", "", "hook arguments: JSON, @FILE, or - for standard input")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"id": ..., "hook": ..., "started": true} instead of a sentence`)
	return cmd
}

func newSignalCmd(g *globals) *cobra.Command {
	var dataJSON, startWF, argsJSON string
	var sf startFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "signal ID NAME",
		Short: "Send a signal to an instance (kept until a wait receives it, also before the instance starts)",
		Args:  args(2, 2),
		RunE: func(cmd *cobra.Command, a []string) error {
			data, err := parseJSON(cmd, "data", dataJSON)
			if err != nil {
				return err
			}
			if startWF == "" && cmd.Flags().Changed("args") {
				return usageErr("signal: --args needs --start WORKFLOW")
			}
			var input any
			var opts []memflow.StartOption
			if startWF != "" {
				if input, err = parseJSON(cmd, "args", argsJSON); err != nil {
					return err
				}
				if opts, err = sf.options(cmd); err != nil {
					return err
				}
			} else if cmd.Flags().Changed("queue") || cmd.Flags().Changed("expire") || cmd.Flags().Changed("entity") {
				return usageErr("signal: --queue, --expire and --entity need --start WORKFLOW")
			}
			return g.withEngine(cmd, func(ctx context.Context, eng *memflow.Engine) error {
				started := false
				if startWF == "" {
					if err := eng.Signal(ctx, a[0], a[1], data); err != nil {
						return err
					}
				} else if started, err = eng.SignalWithStart(ctx, a[0], a[1], data, startWF, input, opts...); err != nil {
					return err
				}
				v := map[string]any{"id": a[0], "signal": a[1], "sent": true}
				if startWF != "" {
					v["started"] = started
				}
				if started {
					fmt.Fprintf(cmd.ErrOrStderr(), "started %s %s\n", startWF, a[0])
				}
				return confirm(cmd, asJSON, fmt.Sprintf("sent signal %q to %s", a[1], a[0]), v)
			})
		},
	}
	cmd.Flags().StringVar(&dataJSON, "data", "", "signal data: JSON, @FILE, or - for standard input")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"id": ..., "signal": ..., "sent": true} (and "started" with --start) instead of a sentence`)
	cmd.Flags().StringVar(&startWF, "start", "", "start this workflow as ID first when no instance holds ID (start and signal commit together)")
	cmd.Flags().StringVar(&argsJSON, "args", "", "with --start: start arguments: JSON, @FILE, or - for standard input")
	sf.add(cmd)
	return cmd
}

func newResultCmd(g *globals) *cobra.Command {
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "result ID",
		Short: "Print an instance's result (exit 1 if it failed)",
		Args:  args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			return g.withExisting(cmd, func(ctx context.Context, eng *memflow.Engine) error {
				if wait {
					if st, err := eng.Status(ctx, a[0]); err == nil && st.Status == memflow.StatusRunning {
						warnIdle(ctx, eng, cmd.ErrOrStderr(), st, g) // status.go
					}
					if timeout > 0 {
						var cancel context.CancelFunc
						ctx, cancel = context.WithTimeout(ctx, timeout)
						defer cancel()
					}
					res, err := eng.Result(ctx, a[0])
					if errors.Is(err, context.DeadlineExceeded) && timeout > 0 {
						return fmt.Errorf("workflow %q is still running after %s", a[0], timeout)
					}
					if err != nil {
						return err
					}
					return printJSON(cmd.OutOrStdout(), res)
				}
				in, err := eng.Get(ctx, a[0])
				if err != nil {
					return err
				}
				switch in.Status {
				case memflow.StatusCompleted:
					return printJSON(cmd.OutOrStdout(), in.Result)
				case memflow.StatusRunning:
					return fmt.Errorf("workflow %q is still running (use --wait)", a[0])
				}
				return &memflow.WorkflowError{ID: in.ID, Status: in.Status, Message: in.Error}
			})
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the instance ends")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "with --wait: give up after this long")
	return cmd
}

func newGetCmd(g *globals) *cobra.Command {
	var full bool
	cmd := &cobra.Command{
		Use:   "get ID [PATH]",
		Short: "Print an instance's entity document, or the value at PATH",
		Args:  args(1, 2),
		RunE: func(cmd *cobra.Command, a []string) error {
			return g.withExisting(cmd, func(ctx context.Context, eng *memflow.Engine) error {
				in, err := eng.Get(ctx, a[0])
				if err != nil {
					return err
				}
				if full {
					return printJSON(cmd.OutOrStdout(), in)
				}
				if len(a) == 1 {
					return printJSON(cmd.OutOrStdout(), in.Entity)
				}
				doc, err := store.DecodeJSON(in.Entity)
				if err != nil {
					return err
				}
				v, ok, err := store.Get(doc, a[1])
				if err != nil {
					return usageErr("path %q: %v", a[1], err)
				}
				if !ok {
					return fmt.Errorf("get %s %s: %w", a[0], a[1], memflow.ErrNotFound)
				}
				return printJSON(cmd.OutOrStdout(), v)
			})
		},
	}
	cmd.Flags().BoolVar(&full, "instance", false, "print the whole instance (status, result, error, entity)")
	return cmd
}

func newHistoryCmd(g *globals) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "history ID",
		Short: "Print an instance's history as JSON",
		Long: `history prints an instance's history as a JSON list. With --follow it prints each row
as one JSON object per line as it is committed, until the instance ends (or until interrupted).`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			return g.withExisting(cmd, func(ctx context.Context, eng *memflow.Engine) error {
				if follow {
					return followHistory(ctx, eng, a[0], cmd.OutOrStdout())
				}
				evs, err := eng.History(ctx, a[0])
				if err != nil {
					return err
				}
				if len(evs) == 0 {
					if _, err := eng.Get(ctx, a[0]); err != nil {
						return err
					}
				}
				return printJSON(cmd.OutOrStdout(), evs)
			})
		},
	}
	cmd.Flags().BoolVar(&follow, "follow", false, "print rows as they are committed (one JSON object a line) until the instance ends")
	return cmd
}

// followHistory prints id's history rows, one JSON object a line, as they
// commit, until the instance has ended and every row is printed. It reads
// only the rows after the last one printed, and the instance's status only
// when no new row came (status first, then the rows: an instance read as
// ended has committed every row). It polls every 50ms while rows come,
// backing off to 1s while none do.
func followHistory(ctx context.Context, eng *memflow.Engine, id string, w io.Writer) error {
	if _, err := eng.Get(ctx, id); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	var seen int64
	delay := 50 * time.Millisecond
	ended := false
	for {
		evs, err := eng.HistoryAfter(ctx, id, seen)
		if err == nil {
			for _, ev := range evs {
				if err := enc.Encode(ev); err != nil {
					return err
				}
				seen = ev.Seq
			}
			switch {
			case len(evs) > 0:
				delay = 50 * time.Millisecond
				continue // read on: more may have committed meanwhile
			case ended:
				return nil
			}
			var in *memflow.Instance
			if in, err = eng.Get(ctx, id); err == nil && in.Status != memflow.StatusRunning {
				ended = true // one more read takes the rows of its end
				continue
			}
		}
		if err != nil && (ctx.Err() != nil || !store.IsTransient(err)) {
			if ctx.Err() != nil {
				return nil // interrupted: following ends there
			}
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		delay = min(delay*2, time.Second)
	}
}

func newFindCmd(g *globals) *cobra.Command {
	var where, sortBy, after string
	var limit, offset int
	var page bool
	cmd := &cobra.Command{
		Use:   "find ENTITY",
		Short: "List instances of an entity type whose documents match --where",
		Long: `find lists instances of ENTITY as a JSON array. --where is a JSON object of
path: value equalities, '{"status":"done"}', or a list of conditions,
'[{"path":"confidence","op":">=","value":0.8}]'. Ops: = != < <= > >=,
like (% any run, _ one character, \ escapes), prefix (literal), in (a list),
contains (an array element), exists and !exists (no value).

--sort FIELD or FIELD:desc orders by a field (ties by id); the default is by id.
When more instances match than --limit, the cursor of the next page goes to
stderr as "next: CURSOR"; pass it to --after for that page. --page prints
{"instances": [...], "next": "CURSOR"} on stdout instead.`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if limit < 1 {
				return usageErr("find: --limit must be 1 or more, got %d", limit)
			}
			if offset < 0 {
				return usageErr("find: --offset must be 0 or more, got %d", offset)
			}
			if offset > 0 && after != "" {
				return usageErr("find: give --after or --offset, not both")
			}
			opts := memflow.FindOptions{Limit: limit, Offset: offset, After: after}
			if sortBy != "" {
				field, dir, hasDir := strings.Cut(sortBy, ":")
				switch {
				case field == "":
					return usageErr("find: --sort %q names no field (want FIELD or FIELD:desc)", sortBy)
				case hasDir && dir == "desc":
					opts.Desc = true
				case hasDir && dir != "asc":
					return usageErr("find: --sort %q: the direction after ':' must be asc or desc", sortBy)
				}
				opts.Sort = field
			}
			conds, err := parseWhere(cmd, where)
			if err != nil {
				return err
			}
			return g.withExisting(cmd, func(ctx context.Context, eng *memflow.Engine) error {
				r, err := eng.FindPage(ctx, a[0], conds, opts)
				if err != nil {
					return err
				}
				if page {
					return printJSON(cmd.OutOrStdout(), r)
				}
				if err := printJSON(cmd.OutOrStdout(), r.Instances); err != nil {
					return err
				}
				if r.Next != "" {
					fmt.Fprintf(cmd.ErrOrStderr(), "next: %s\n", r.Next)
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&where, "where", "", "filter: a JSON object of path: value equalities, or a list of {path, op, value}; @FILE or - reads it")
	f.IntVar(&limit, "limit", 100, "most instances to list (at most 10000)")
	f.IntVar(&offset, "offset", 0, "skip this many matching instances first (not with --after)")
	f.StringVar(&sortBy, "sort", "", "order by a field: FIELD or FIELD:desc (default: by id)")
	f.StringVar(&after, "after", "", "list the page after the one that printed this cursor (same ENTITY, --where and --sort)")
	f.BoolVar(&page, "page", false, `print {"instances": [...], "next": CURSOR} instead of the bare list`)
	return cmd
}

func parseWhere(cmd *cobra.Command, s string) ([]memflow.Condition, error) {
	if s == "" {
		return nil, nil
	}
	b, err := readPayload(cmd, "where", s)
	if err != nil {
		return nil, err
	}
	conds, err := memflow.ParseWhere(b)
	if err != nil {
		return nil, usageErr("--%v", err)
	}
	return conds, nil
}

func newIndexCmd(g *globals) *cobra.Command {
	var array, asJSON bool
	cmd := &cobra.Command{
		Use:   "index ENTITY FIELD",
		Short: "Create an index on a field of an entity type's documents",
		Long: `index creates an index on FIELD of ENTITY's documents for find's =, <, <=, >,
>= and in on that field. With --array, the index serves contains on an
array field instead (GIN on Postgres, a table of elements on SQLite).
Idempotent. FIELD takes letters, digits, '_' and '-' in its keys.`,
		Args: args(2, 2),
		RunE: func(cmd *cobra.Command, a []string) error {
			return g.withEngine(cmd, func(ctx context.Context, eng *memflow.Engine) error {
				create, kind := eng.CreateIndex, "index"
				if array {
					create, kind = eng.CreateArrayIndex, "array index"
				}
				if err := create(ctx, a[0], a[1]); err != nil {
					return err
				}
				v := map[string]any{"entity": a[0], "field": a[1], "indexed": true}
				if array {
					v["array"] = true
				}
				return confirm(cmd, asJSON, fmt.Sprintf("%s on %s field %s is in place", kind, a[0], a[1]), v)
			})
		},
	}
	cmd.Flags().BoolVar(&array, "array", false, "index the elements of an array field, for contains")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"entity": ..., "field": ..., "indexed": true} (with "array": true for --array) instead of a sentence`)
	return cmd
}

// confirm prints what a command did: one line for people, or with --json
// one JSON object.
func confirm(cmd *cobra.Command, asJSON bool, line string, v map[string]any) error {
	if asJSON {
		b, err := encodeJSON(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(cmd.OutOrStdout(), string(b))
		return err
	}
	_, err := fmt.Fprintln(cmd.OutOrStdout(), line)
	return err
}

func newCancelCmd(g *globals) *cobra.Command {
	var tree, asJSON bool
	cmd := &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a running instance, its hooks and children",
		Long: `Cancel a running instance, its hooks and children.

With --tree, cancel every running instance started under ID too (children,
their children and so on, detached or not), also when ID already ended, and
print how many instances were cancelled.`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			return g.withEngine(cmd, func(ctx context.Context, eng *memflow.Engine) error {
				if !tree {
					if err := eng.Cancel(ctx, a[0]); err != nil {
						return err
					}
					return confirm(cmd, asJSON, "cancelled "+a[0], map[string]any{"id": a[0], "status": memflow.StatusCancelled})
				}
				n, err := eng.CancelTree(ctx, a[0])
				if err != nil {
					return err
				}
				return confirm(cmd, asJSON, fmt.Sprintf("cancelled %d instance(s) in the tree of %s", n, a[0]),
					map[string]any{"id": a[0], "tree": true, "cancelled": n})
			})
		},
	}
	cmd.Flags().BoolVar(&tree, "tree", false, "also cancel every instance started under ID, detached ones included, even if ID already ended")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"id": ..., "status": "cancelled"} (with --tree {"id": ..., "tree": true, "cancelled": N}) instead of a sentence`)
	return cmd
}

func newMigrateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Provision or upgrade the database schema (also done on first use)",
		Args:  args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withEngine(cmd, func(context.Context, *memflow.Engine) error {
				fmt.Fprintf(cmd.ErrOrStderr(), "schema of app %q is up to date\n", g.app)
				return nil
			})
		},
	}
}
