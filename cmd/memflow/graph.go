package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/internal/graph"
	"github.com/spf13/cobra"
)

// newGraphCmd is `memflow graph FILE`: draw the compiled state machine of a
// flow file's (or folder's) workflows, or one of them, and the hooks they
// can run.
func newGraphCmd() *cobra.Command {
	var workflow, format string
	cmd := &cobra.Command{
		Use:   "graph FILE",
		Short: "Draw the state machine of a flow as Mermaid or Graphviz dot",
		Long: `Graph compiles FILE (or a folder, as one catalogue) and prints its state
machine: states, branches, hooks, waits, loops and try/catch edges.
--format mermaid (default) or dot; --workflow draws one workflow and the hooks
it can run.`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if format != "mermaid" && format != "dot" {
				return usageErr("graph: unknown --format %q: use mermaid or dot", format)
			}
			cat, ds := compiler.Load(a, compiler.Options{})
			if cat == nil {
				if err := renderDiagnostics(cmd.ErrOrStderr(), ds.Errors()); err != nil {
					return err
				}
				n := len(ds.Errors())
				return &exitError{code: 1, err: fmt.Errorf("graph: %s does not load: %d %s", a[0], n, plural(n, "error", "errors"))}
			}
			var names []string
			for n := range cat.Programs {
				names = append(names, n)
			}
			sort.Strings(names)
			if workflow != "" {
				if cat.Programs[workflow] == nil {
					return usageErr("graph: %s has no workflow %q (it has: %s)", a[0], workflow, strings.Join(names, ", "))
				}
				names = []string{workflow}
			}
			pic := graph.New()
			drawn := map[string]bool{}
			for _, n := range names {
				p := cat.Programs[n]
				pic.Add(p.Workflow)
				for _, h := range graph.HookNames(p) {
					if !drawn[h] {
						drawn[h] = true
						pic.Add(p.Hooks[h])
					}
				}
			}
			out := cmd.OutOrStdout()
			if format == "dot" {
				pic.Dot(out)
			} else {
				pic.Mermaid(out)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&workflow, "workflow", "", "draw only this workflow (and its hooks)")
	cmd.Flags().StringVar(&format, "format", "mermaid", "mermaid or dot")
	return cmd
}
