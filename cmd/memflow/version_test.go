package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// `memflow version` and `memflow --version` print the module version, the
// commit and the Go version.
func TestVersion(t *testing.T) {
	code, out, errs := cli(t, "version")
	want := buildVersion(debug.ReadBuildInfo()) + "\n"
	if code != 0 || out != want || errs != "" {
		t.Errorf("version: exit %d %q %q, want %q", code, out, errs, want)
	}
	if code, out2, _ := cli(t, "--version"); code != 0 || out2 != out {
		t.Errorf("--version: exit %d %q, want %q", code, out2, out)
	}
	if got := buildVersion(debug.ReadBuildInfo()); got[:8] != "memflow " || got[len(got)-len(runtime.Version()):] != runtime.Version() {
		t.Errorf("version %q lacks the Go version %s", got, runtime.Version())
	}
	info := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/memflow/memflow", Version: "v0.4.1"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := buildVersion(info, true), "memflow v0.4.1 commit 0123456789ab+dirty (2026-12-01T10:00:00Z) go1.26.0"; got != want {
		t.Errorf("buildVersion = %q, want %q", got, want)
	}
	info = &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}}
	if got, want := buildVersion(info, true), "memflow (devel) go1.26.0"; got != want {
		t.Errorf("buildVersion = %q, want %q", got, want)
	}
}

// The README installs the memflow command before its first bare `memflow`
// command line, and every `memflow SUBCOMMAND` it shows exists.
func TestReadmeInstallsMemflowFirst(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	// Command lines: the lines of ```sh blocks.
	var cmds []string
	inSh := false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "```sh"):
			inSh = true
		case strings.HasPrefix(line, "```"):
			inSh = false
		case inSh:
			cmds = append(cmds, line)
		}
	}
	install, first := -1, -1
	for i, line := range cmds {
		if strings.HasPrefix(line, "go install ./cmd/memflow") && install < 0 {
			install = i
		}
		if strings.HasPrefix(line, "memflow ") && first < 0 {
			first = i
		}
	}
	if install < 0 || first < 0 || install > first {
		t.Fatalf("README: go install ./cmd/memflow is command line %d, the first bare memflow command line %d", install, first)
	}
	known := map[string]bool{}
	for _, c := range newRootCmd(nil).Commands() {
		known[c.Name()] = true
	}
	for _, line := range cmds {
		if rest, ok := strings.CutPrefix(line, "memflow "); ok {
			if sub := strings.Fields(rest)[0]; !strings.HasPrefix(sub, "-") && !known[sub] {
				t.Errorf("README runs unknown command %q: %s", sub, line)
			}
		}
	}
}
