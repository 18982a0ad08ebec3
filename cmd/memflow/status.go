package main

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/memflow/memflow"
	"github.com/memflow/memflow/internal/store"
	"github.com/spf13/cobra"
)

// idleWindow is how recently a worker must have polled for a queue to count
// as serving it: workers record a poll at most every 5 seconds and poll
// every second by default.
const idleWindow = 15 * time.Second

func newStatusCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Say what an instance is doing now: its steps, what each waits for, or how it ended",
		Long: `status reads an instance without changing it and prints, for each live thread
(the workflow's steps, each hook, each branch), the step it is at and what it waits for:
a signal (and its timeout, with the command that sends it), a sleep's end, hooks,
a child workflow, an activity attempt; or how the instance ended. It warns when no
worker has polled the queues the instance's pending tasks are on. --json prints it as JSON.`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			return g.withExisting(cmd, func(ctx context.Context, eng *memflow.Engine) error {
				st, err := eng.Status(ctx, a[0])
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), st)
				}
				writeStatus(cmd.OutOrStdout(), st, g.signalCmd, time.Now())
				if st.Status == memflow.StatusRunning {
					warnIdle(ctx, eng, cmd.ErrOrStderr(), st, g)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}

// maxThreadLines bounds the threads status lists (a forEach may run
// hundreds of branches); the rest are counted.
const maxThreadLines = 20

// writeStatus renders st for a person.
func writeStatus(w io.Writer, st *memflow.Status, signalCmd func(id, name string) string, now time.Time) {
	fmt.Fprintf(w, "%s  %s  %s, started %s ago\n", st.ID, st.Workflow, st.Status, now.Sub(st.Started).Round(time.Second))
	switch st.Status {
	case memflow.StatusCompleted:
		fmt.Fprintf(w, "  result: %s\n", brief(st.Result))
		return
	case memflow.StatusFailed, memflow.StatusCancelled:
		fmt.Fprintf(w, "  error: %s\n", st.Error)
		return
	}
	for i, t := range st.Threads {
		if i == maxThreadLines {
			fmt.Fprintf(w, "  … and %d more threads (--json lists every one)\n", len(st.Threads)-i)
			break
		}
		fmt.Fprintf(w, "  %s\n", t.Line(now))
		if t.Doing == memflow.DoingSignal {
			fmt.Fprintf(w, "    send it with: %s --data '{}'\n", signalCmd(st.ID, t.Signal))
		}
	}
	if len(st.Kept) > 0 {
		fmt.Fprintf(w, "  signals received, kept until a step waits for them: %s\n", strings.Join(st.Kept, ", "))
	}
	var sent []string
	for _, t := range st.Tasks {
		if t.Kind == "signal" || t.Kind == "hook" {
			sent = append(sent, fmt.Sprintf("%s %q", t.Kind, t.Name))
		}
	}
	if len(sent) > 0 {
		fmt.Fprintf(w, "  sent, not yet handled by a worker: %s\n", strings.Join(sent, ", "))
	}
	if st.Deadline != nil {
		fmt.Fprintf(w, "  workflow timeout at %s (in %s)\n", st.Deadline.UTC().Format("2006-01-02 15:04:05 UTC"), st.Deadline.Sub(now).Round(time.Second))
	}
}

// warnIdle writes, for each queue st's instance has work on (its own queue
// and those of its pending tasks), that no worker serving it polled within
// idleWindow. It says nothing when that cannot be read.
func warnIdle(ctx context.Context, eng *memflow.Engine, w io.Writer, st *memflow.Status, g *globals) {
	queues := map[string]bool{st.Queue: true}
	for _, t := range st.Tasks {
		queues[t.Queue] = true
	}
	list := make([]string, 0, len(queues))
	for q := range queues {
		list = append(list, q)
	}
	sort.Strings(list)
	for _, q := range list {
		served, err := eng.QueueServed(ctx, q, st.Root, idleWindow)
		if err != nil || served {
			continue
		}
		fmt.Fprintf(w, "memflow: no worker has claimed work for queue %q in the last %d s; %s waits until one runs (start one with: %s)\n",
			q, int(idleWindow/time.Second), st.ID, g.command("worker"))
	}
}

// command renders a memflow command line with the --db and --app flags
// this one was given, so a printed command reaches the same database.
func (g *globals) command(args ...string) string {
	parts := []string{"memflow"}
	for _, a := range args {
		parts = append(parts, shellQuote(a))
	}
	if g.db != "" {
		// A password never reaches the terminal, even in a command to copy.
		parts = append(parts, "--db", shellQuote(store.Redact(g.db)))
	}
	if g.app != memflow.DefaultApp {
		parts = append(parts, "--app", shellQuote(g.app))
	}
	return strings.Join(parts, " ")
}

// signalCmd is the command that sends signal name to instance id.
func (g *globals) signalCmd(id, name string) string { return g.command("signal", id, name) }

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=,-]+$`)

// shellQuote quotes s for a POSIX shell when it holds anything but safe
// characters.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
