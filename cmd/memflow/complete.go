package main

import (
	"context"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/memflow/memflow"
	"github.com/spf13/cobra"
)

// Shell completion reads the database the command line names (--db, --app)
// the way read commands do: it never creates a file or a schema, and
// completes nothing when the database or app is not there.

// completionTimeout bounds one completion's database reads.
const completionTimeout = 2 * time.Second

// maxCompletions bounds the ids offered at once.
const maxCompletions = 200

// withCompletionEngine runs fn on the existing app's engine; nil on any
// error.
func (g *globals) withCompletionEngine(cmd *cobra.Command, fn func(ctx context.Context, eng *memflow.Engine) []string) []string {
	ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
	defer cancel()
	eng, err := g.openExisting(ctx, io.Discard)
	if err != nil {
		return nil
	}
	defer eng.Close()
	return fn(ctx, eng)
}

// completeWorkflows completes the first argument with the names of the
// workflows serving new starts.
func (g *globals) completeWorkflows(cmd *cobra.Command, a []string, prefix string) ([]string, cobra.ShellCompDirective) {
	if len(a) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	names := g.withCompletionEngine(cmd, func(ctx context.Context, eng *memflow.Engine) []string {
		st, err := eng.Flows(ctx)
		if err != nil {
			return nil
		}
		var out []string
		for _, f := range st.Flows {
			if !f.Removed && strings.HasPrefix(f.Name, prefix) {
				out = append(out, f.Name)
			}
		}
		sort.Strings(out)
		return out
	})
	return names, cobra.ShellCompDirectiveNoFileComp
}

// completeIDs completes the first argument with instance ids: those of
// every entity type the stored workflows use, newest first as Find lists
// them, at most maxCompletions.
func (g *globals) completeIDs(cmd *cobra.Command, a []string, prefix string) ([]string, cobra.ShellCompDirective) {
	if len(a) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ids := g.withCompletionEngine(cmd, func(ctx context.Context, eng *memflow.Engine) []string {
		types, err := eng.EntityTypes(ctx)
		if err != nil {
			return nil
		}
		var out []string
		for _, et := range types {
			ins, err := eng.Find(ctx, et, nil, memflow.FindOptions{Limit: maxCompletions})
			if err != nil {
				return out
			}
			for _, in := range ins {
				if strings.HasPrefix(in.ID, prefix) && len(out) < maxCompletions {
					out = append(out, in.ID)
				}
			}
		}
		sort.Strings(out)
		return out
	})
	return ids, cobra.ShellCompDirectiveNoFileComp
}
