package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/memflow/memflow"
	"github.com/memflow/memflow/internal/store"
	"github.com/spf13/cobra"
)

func newRunCmd(g *globals) *cobra.Command {
	var workflow, argsJSON, id string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Load a flow file, run one workflow to its end in-process and print its result",
		Long: `run loads FILE, starts the workflow (the only one in the file, or --workflow) and
works on it in this process until it ends, printing each committed step on stderr and the
result as JSON on stdout. Other processes may signal or hook the instance meanwhile.`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			input, err := parseJSON(cmd, "args", argsJSON)
			if err != nil {
				return err
			}
			return g.withEngine(cmd, func(ctx context.Context, eng *memflow.Engine) error {
				if err := eng.LoadFlows(ctx, a[0]); err != nil {
					return err
				}
				wf, err := pickWorkflow(eng.Workflows(), workflow, a[0])
				if err != nil {
					return err
				}
				// An id an instance of this workflow holds is resumed, not
				// started again (Start returns it as is).
				var before *memflow.Instance
				if id != "" {
					if before, err = eng.Get(ctx, id); err != nil && !memflow.IsNotFound(err) {
						return err
					}
				}
				wid, err := startAs(ctx, eng, wf, input, id)
				if err != nil {
					return err
				}
				stderr := cmd.ErrOrStderr()
				if quiet {
					stderr = io.Discard
				}
				switch {
				case before == nil:
					fmt.Fprintf(stderr, "started %s as %s\n", wf, wid)
				case before.Status == memflow.StatusRunning:
					fmt.Fprintf(stderr, "resumed %s as %s (it was started %s)\n", wf, wid, before.CreatedAt.Local().Format(time.DateTime))
				default:
					fmt.Fprintf(stderr, "%s as %s already %s; nothing to resume\n", wf, wid, before.Status)
				}
				st, err := eng.Status(ctx, wid)
				if err != nil {
					return err
				}
				res, err := runToEnd(ctx, eng, wid, runView{root: st.Root, progress: stderr, signalCmd: g.signalCmd})
				if err != nil {
					return err
				}
				return printJSON(cmd.OutOrStdout(), res)
			})
		},
	}
	cmd.Flags().StringVar(&workflow, "workflow", "", "workflow to run when the file has several")
	cmd.Flags().StringVar(&argsJSON, "args", "", "start arguments (JSON)")
	cmd.Flags().StringVar(&id, "id", "", "workflow id (default: generated); an existing instance of this workflow is resumed")
	cmd.Flags().BoolVar(&quiet, "quiet", false, "print no progress")
	g.http.add(cmd)
	return cmd
}

func pickWorkflow(names []string, want, file string) (string, error) {
	if want != "" {
		for _, n := range names {
			if n == want {
				return n, nil
			}
		}
		return "", usageErr("no workflow %q in %s (have: %s)", want, file, strings.Join(names, ", "))
	}
	switch len(names) {
	case 0:
		return "", usageErr("%s defines no workflow", file)
	case 1:
		return names[0], nil
	}
	return "", usageErr("%s defines several workflows; pick one with --workflow (%s)", file, strings.Join(names, ", "))
}

// runView is how runToEnd works and reports.
type runView struct {
	// root is the root of the instance's tree: the in-process worker
	// claims only the tasks of that tree (the instance, its hooks and its
	// children), never other instances of the app.
	root     string
	progress io.Writer
	// signalCmd renders the command that sends a signal to an instance.
	signalCmd func(id, name string) string
}

// runToEnd works on the instance in-process until it ends, printing
// committed history events as they appear, and what it waits for when it
// waits for a signal.
func runToEnd(ctx context.Context, eng *memflow.Engine, id string, v runView) (any, error) {
	progress := v.progress
	wctx, stop := context.WithCancel(ctx)
	workerDone := make(chan error, 1)
	go func() {
		workerDone <- eng.Run(wctx, memflow.WorkerConfig{Poll: 250 * time.Millisecond, Grace: 2 * time.Second, Root: v.root})
	}()
	defer func() {
		stop()
		<-workerDone
	}()
	pr := newProgressPrinter(progress) // progress.go
	defer pr.end()
	var seen int64
	var start time.Time       // when the instance started: the first event
	told := map[string]bool{} // waits already reported (waitLines)
	changed := true           // events came since the last look at the waits
	delay := 20 * time.Millisecond
	var failingSince time.Time // a run of transient database errors began
	var backoff time.Duration
	for {
		// The status first: when it says ended, the history read next holds
		// every event up to the end (they commit together).
		in, err := eng.Get(ctx, id)
		var evs []memflow.Event
		if err == nil {
			evs, err = eng.HistoryAfter(ctx, id, seen)
		}
		if err != nil {
			if ctx.Err() != nil || !store.IsTransient(err) {
				return nil, err
			}
			// The database is restarting or dropped the connection: the
			// workflow goes on, so wait it out (until interrupted).
			if failingSince.IsZero() {
				failingSince, backoff = time.Now(), 50*time.Millisecond
				fmt.Fprintf(progress, "database error, retrying: %v\n", err)
			} else {
				backoff = min(backoff*2, 2*time.Second)
			}
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("interrupted after the database failed for %s (last error: %w); the instance %s resumes when a worker runs",
					time.Since(failingSince).Round(time.Millisecond), err, id)
			case <-t.C:
			}
			continue
		}
		failingSince = time.Time{}
		fresh := false
		for _, ev := range evs {
			if start.IsZero() {
				start = ev.At
			}
			if ev.Seq > seen {
				seen, fresh = ev.Seq, true
				pr.print(ev, start)
			}
		}
		if len(evs) >= memflow.HistoryPage {
			continue // more rows to print before the status read counts
		}
		if in.Status != memflow.StatusRunning {
			if in.Status == memflow.StatusCompleted {
				return in.Result, nil
			}
			return nil, &memflow.WorkflowError{ID: id, Status: in.Status, Message: in.Error}
		}
		if fresh {
			changed = true
		} else if changed {
			// Something happened and the instance is quiet now: say what it
			// waits for, once per wait (a best effort: a failed read is
			// tried at the next poll).
			if st, err := eng.Status(ctx, id); err == nil {
				changed = false
				for _, line := range waitLines(st, told, v.signalCmd, time.Now()) {
					fmt.Fprintln(progress, line)
				}
			}
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, errors.New("interrupted; the instance " + id + " resumes when a worker runs")
		case <-t.C:
		}
		delay = min(delay*2, 250*time.Millisecond)
		if fresh {
			delay = 20 * time.Millisecond
		}
	}
}
