package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/dsl"
	"github.com/spf13/cobra"
)

// newValidateCmd is `memflow validate PATH...`: load files and folders as
// one catalogue and report every problem. acts are the activities the
// binary registers (nil: activity names are not checked).
func newValidateCmd(acts compiler.ActivitySet) *cobra.Command {
	var strict, asJSON bool
	cmd := &cobra.Command{
		Use:   "validate PATH...",
		Short: "Check flow files and folders without running them",
		Long: `Validate loads the given files and folders (recursively, *.yaml and *.yml) as one
catalogue and reports every problem GNU style (file:line:col: message) on stderr.
Warnings (activities the binary does not register, plain text that reads like an
expression written without ${ }, and the like) do not fail a load unless --strict,
which turns every warning into an error. Exit status: 0 valid, 1 invalid, 2 usage error.`,
		Args: args(1, -1),
		RunE: func(cmd *cobra.Command, paths []string) error {
			cat, ds := compiler.Load(paths, compiler.Options{Activities: acts, LaxActivities: true})
			if strict {
				for i := range ds {
					ds[i].Severity = dsl.Error
				}
				if len(ds) > 0 {
					cat = nil
				}
			}
			if asJSON {
				if ds == nil {
					ds = dsl.Diagnostics{}
				}
				b, err := json.MarshalIndent(ds, "", "  ")
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), string(b))
			} else if err := renderDiagnostics(cmd.ErrOrStderr(), ds); err != nil {
				return err
			}
			if cat == nil {
				n := len(ds.Errors())
				return &exitError{code: 1, err: fmt.Errorf("validate: %d %s", n, plural(n, "error", "errors"))}
			}
			if !asJSON {
				hooks := map[string]bool{}
				for _, p := range cat.Programs {
					for h := range p.Hooks {
						hooks[h] = true
					}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "ok: %d %s, %d %s in %d %s\n",
					len(cat.Programs), plural(len(cat.Programs), "workflow", "workflows"),
					len(hooks), plural(len(hooks), "hook", "hooks"),
					len(cat.Files), plural(len(cat.Files), "file", "files"))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&strict, "strict", false, "treat warnings (such as activities this binary does not register, or text that reads like an expression without ${ }) as errors")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the diagnostics as a JSON array on stdout")
	return cmd
}

// renderDiagnostics prints diagnostics with their source lines, reading
// each file named once.
func renderDiagnostics(w io.Writer, ds dsl.Diagnostics) error {
	sources := map[string][]byte{}
	for _, d := range ds {
		if _, done := sources[d.Pos.File]; done || d.Pos.Line == 0 {
			continue
		}
		b, err := os.ReadFile(d.Pos.File)
		if err != nil {
			b = nil
		}
		sources[d.Pos.File] = b
	}
	return ds.Render(w, sources)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
