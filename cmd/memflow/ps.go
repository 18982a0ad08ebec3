package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/memflow/memflow"
	"github.com/memflow/memflow/internal/store"
	"github.com/spf13/cobra"
)

func newPsCmd(g *globals) *cobra.Command {
	var workflow, status, after string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ps",
		Short: "List instances, newest first, of any workflow or one (--workflow), by status",
		Long: `ps lists instances newest first: id, workflow, status, when created and last changed.
A full page ends with the command for the next one (--after CURSOR); pages never skip or
repeat an instance, however many start meanwhile. --json prints {"instances": [...], "next": CURSOR}.`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > store.MaxListLimit {
				return usageErr("ps: --limit must be between 1 and %d, got %d", store.MaxListLimit, limit)
			}
			switch status {
			case "", memflow.StatusRunning, memflow.StatusCompleted, memflow.StatusFailed, memflow.StatusCancelled:
			default:
				return usageErr("ps: --status %q is not one of running, completed, failed, cancelled", status)
			}
			if after != "" {
				if _, err := store.ParseCursor(after); err != nil {
					return usageErr("ps: --after: %v", err)
				}
			}
			return g.withExisting(cmd, func(ctx context.Context, eng *memflow.Engine) error {
				ins, next, err := eng.List(ctx, memflow.ListOptions{Workflow: workflow, Status: status, Limit: limit, After: after})
				if err != nil {
					return err
				}
				if asJSON {
					type row struct {
						ID          string     `json:"id"`
						Workflow    string     `json:"workflow"`
						Status      string     `json:"status"`
						Error       string     `json:"error,omitempty"`
						CreatedAt   time.Time  `json:"createdAt"`
						UpdatedAt   time.Time  `json:"updatedAt"`
						CompletedAt *time.Time `json:"completedAt,omitempty"`
					}
					rows := make([]row, len(ins))
					for i, in := range ins {
						rows[i] = row{in.ID, in.Workflow, in.Status, in.Error, in.CreatedAt, in.UpdatedAt, in.CompletedAt}
					}
					return printJSON(cmd.OutOrStdout(), map[string]any{"instances": rows, "next": next})
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tWORKFLOW\tSTATUS\tCREATED\tUPDATED")
				for _, in := range ins {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", in.ID, in.Workflow, in.Status,
						in.CreatedAt.Local().Format(time.DateTime), in.UpdatedAt.Local().Format(time.DateTime))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				if next != "" {
					args := []string{"ps", "--after", next, "--limit", fmt.Sprint(limit)}
					if workflow != "" {
						args = append(args, "--workflow", workflow)
					}
					if status != "" {
						args = append(args, "--status", status)
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "next page: %s\n", g.command(args...))
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&workflow, "workflow", "", "only instances of this workflow")
	cmd.Flags().StringVar(&status, "status", "", "only instances with this status: running, completed, failed or cancelled")
	cmd.Flags().IntVar(&limit, "limit", 50, "most instances to list (1 to 10000)")
	cmd.Flags().StringVar(&after, "after", "", "list the instances after this cursor (printed at the end of a full page)")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"instances": [...], "next": CURSOR} ("" when there are no more)`)
	return cmd
}
