package main

import (
	"runtime"
	"runtime/debug"
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
