package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// buildVersion describes this binary from its build information: the
// module version ("(devel)" when built from a checkout), the commit it was
// built from (with "+dirty" for uncommitted changes) and the Go version.
func buildVersion(info *debug.BuildInfo, ok bool) string {
	if !ok || info == nil {
		return "memflow (unknown version: no build information)"
	}
	version := info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var rev, at string
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "memflow %s", version)
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if dirty {
			rev += "+dirty"
		}
		fmt.Fprintf(&b, " commit %s", rev)
		if at != "" {
			fmt.Fprintf(&b, " (%s)", at)
		}
	}
	fmt.Fprintf(&b, " %s", info.GoVersion)
	return b.String()
}

func printVersion(w io.Writer) error {
	_, err := fmt.Fprintln(w, buildVersion(debug.ReadBuildInfo()))
	return err
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print memflow's version, the commit it was built from and its Go version",
		Args:  args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return printVersion(cmd.OutOrStdout())
		},
	}
}
