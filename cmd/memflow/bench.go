package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/memflow/memflow/internal/bench"
	"github.com/spf13/cobra"
)

// newBenchCmd is `memflow bench`: run a workload and measure it against the
// database's own commit limit.
func newBenchCmd(g *globals) *cobra.Command {
	var cfg bench.Config
	var asJSON bool
	var cpuProfile string
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure workflows/s, latency and commits per workflow against the database's commit limit",
		Long: `bench runs a workload of workflows through an in-process engine and worker and reports
workflows/s (start to result), transitions/s, p50/p95/p99 start-to-result latency, commits per
workflow (Postgres: pg_stat_database.xact_commit deltas) and, measured in the same run on the same
database, the commit rate of single-row JSON inserts at the same connection count, with the ratio
of the two.

Workloads: ` + strings.Join(bench.Workloads(), ", ") + `.
Without --db it uses a temporary SQLite file; without --app a fresh app whose schema is dropped after.`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.DB = g.db
			if !cmd.Flags().Changed("app") {
				cfg.App = ""
			} else {
				cfg.App = g.app
			}
			errw := cmd.ErrOrStderr()
			tty := isTerminal(errw)
			if tty {
				cfg.Progress = func(p bench.Progress) { showProgress(errw, p) }
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return fmt.Errorf("bench: cpu profile: %w", err)
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return fmt.Errorf("bench: cpu profile: %w", err)
				}
				defer pprof.StopCPUProfile()
			}
			rep, err := bench.Run(cmd.Context(), cfg)
			if tty {
				fmt.Fprint(errw, "\r\033[K")
			}
			if err != nil {
				return err
			}
			if asJSON {
				b, err := json.Marshal(rep)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(cmd.OutOrStdout(), string(b))
				return err
			}
			printReport(cmd.OutOrStdout(), rep)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Workload, "workload", "one-activity", "workload: "+strings.Join(bench.Workloads(), ", "))
	f.IntVar(&cfg.Workflows, "workflows", 1000, "workflows to run")
	f.IntVar(&cfg.Concurrency, "concurrency", 16, "workflows in flight (and connections of the database limit)")
	f.IntVar(&cfg.Workers, "workers", 0, "in-process worker concurrency (default: --concurrency)")
	f.DurationVar(&cfg.LimitDuration, "limit-duration", 3*time.Second, "how long to measure the database limit (negative: skip)")
	f.BoolVar(&cfg.Metrics, "metrics", false, "turn the engine's Prometheus metrics on (to measure their cost)")
	f.BoolVar(&cfg.Traces, "traces", false, "export every span over OTLP/HTTP to a receiver in this process (to measure the cost of tracing)")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run (go tool pprof) to this file")
	f.BoolVar(&asJSON, "json", false, "print the report as one JSON object on the last line of stdout")
	return cmd
}

// isTerminal reports whether w is a character device (a terminal), where an
// in-place progress line makes sense.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// showProgress rewrites one status line on stderr.
func showProgress(w io.Writer, p bench.Progress) {
	switch p.Phase {
	case "db-limit":
		fmt.Fprintf(w, "\r\033[Kdatabase limit: %d commits in %.1fs (%.0f/s)", p.Done, p.Elapsed.Seconds(),
			float64(p.Done)/max(p.Elapsed.Seconds(), 1e-9))
	default:
		fmt.Fprintf(w, "\r\033[Kworkflows: %d/%d in %.1fs (%.0f/s)", p.Done, p.Total, p.Elapsed.Seconds(),
			float64(p.Done)/max(p.Elapsed.Seconds(), 1e-9))
	}
}

func printReport(w io.Writer, r *bench.Report) {
	opt := func(v *float64, format string) string {
		if v == nil {
			return "n/a"
		}
		return fmt.Sprintf(format, *v)
	}
	fmt.Fprintf(w, "workload             %s on %s (%d workflows, concurrency %d, workers %d)\n",
		r.Workload, r.Dialect, r.Workflows, r.Concurrency, r.Workers)
	fmt.Fprintf(w, "workflows/s          %.1f  (%.2fs)\n", r.WorkflowsPerSec, r.Seconds)
	fmt.Fprintf(w, "transitions/s        %.1f  (%d history rows)\n", r.TransitionsPerSec, r.Transitions)
	fmt.Fprintf(w, "latency p50/p95/p99  %.2f / %.2f / %.2f ms\n", r.P50MS, r.P95MS, r.P99MS)
	fmt.Fprintf(w, "commits/workflow     %s\n", opt(r.CommitsPerWorkflow, "%.2f"))
	fmt.Fprintf(w, "round trips/workflow %s\n", opt(r.RoundTripsPerWorkflow, "%.2f"))
	fmt.Fprintf(w, "db limit commits/s   %s\n", opt(r.DBLimitCommitsPerSec, "%.0f"))
	fmt.Fprintf(w, "ratio                %s\n", opt(r.Ratio, "%.3f"))
	if r.Spans != nil {
		fmt.Fprintf(w, "spans exported       %d\n", *r.Spans)
	}
}
