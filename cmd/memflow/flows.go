package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/memflow/memflow"
	"github.com/spf13/cobra"
)

func newFlowsCmd(g *globals) *cobra.Command {
	var asJSON, versions bool
	cmd := &cobra.Command{
		Use:   "flows",
		Short: "Show the workflows serving new starts and how the last load of the flows went",
		Long: `Show each workflow of the serving catalogue: the version new starts use, when it
loaded, whether it was removed, and the errors of the last load when it failed (the
versions listed keep serving then). Workers load flows with --flows and reload them
with --watch; every process on the database sees the same catalogue.`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withEngine(cmd, func(ctx context.Context, eng *memflow.Engine) error {
				if versions {
					vs, err := eng.FlowVersions(ctx)
					if err != nil {
						return err
					}
					return printJSON(cmd.OutOrStdout(), vs)
				}
				st, err := eng.Flows(ctx)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), st)
				}
				return printFlows(cmd.OutOrStdout(), st)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the catalogue and the last load as JSON")
	cmd.Flags().BoolVar(&versions, "versions", false, "list every stored version of every workflow (JSON)")
	return cmd
}

// printFlows writes the catalogue as a table, then the last load's errors
// when it failed.
func printFlows(w io.Writer, st *memflow.FlowStatus) error {
	if len(st.Flows) == 0 && st.LastLoad == nil {
		_, err := fmt.Fprintln(w, "no flows loaded yet (memflow worker --flows DIR loads them)")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKFLOW\tVERSION\tSTATUS\tSINCE\tFILE")
	for _, f := range st.Flows {
		status, since := "serving", f.LoadedAt
		if f.Removed {
			status = "removed"
			if f.RemovedAt != nil {
				since = *f.RemovedAt
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Name, f.Version, status, since.UTC().Format(time.RFC3339), f.File)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if l := st.LastError; l != nil {
		count := fmt.Sprintf("%d errors", len(l.Errors))
		if len(l.Errors) == 1 {
			count = "1 error"
		}
		fmt.Fprintf(w, "\nlast load failed at %s (%s): %s; the versions above keep serving\n",
			l.At.UTC().Format(time.RFC3339), l.Source, count)
		for _, e := range l.Errors {
			fmt.Fprintln(w, e)
		}
	}
	return nil
}
