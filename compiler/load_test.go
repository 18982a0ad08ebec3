package compiler

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/memflow/memflow/dsl"
)

func TestLoadFolder(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", "memflow: v1\nworkflows:\n  w:\n    entity: doc\n    steps:\n      - hook: h\n")
	write("sub/b.yml", "memflow: v1\nhooks:\n  h:\n    steps:\n      - activity: work\n")
	write("notes.txt", "not a flow")
	cat, ds := Load([]string{dir}, Options{Activities: goldenActivities})
	if ds.HasErrors() {
		t.Fatal(ds.Error())
	}
	if len(cat.Files) != 2 || cat.Programs["w"].Hooks["h"] == nil {
		t.Fatalf("files %v, program %+v", cat.Files, cat.Programs["w"])
	}
	// A folder without flows loads nothing, with a warning.
	empty := t.TempDir()
	cat, ds = Load([]string{empty}, Options{})
	if cat == nil || len(cat.Programs) != 0 || len(ds) != 1 || ds[0].Severity != dsl.Warning || ds[0].Pos.File != empty {
		t.Fatalf("empty folder: catalogue %v, diagnostics %v", cat, ds)
	}
	// Hidden files and folders and editor files are skipped, as hot reload
	// skips them: an emacs lock (a dangling symlink), a hidden file, a
	// backup, a hidden folder. Each would be an error if read.
	if err := os.Symlink("user@host.1234:1700000000", filepath.Join(dir, ".#a.yaml")); err != nil {
		t.Fatal(err)
	}
	broken := "memflow: v1\nworkflows: [nonsense\n"
	write(".hidden.yaml", broken)
	write("b.yaml~", broken)
	write("#b.yaml#", broken)
	write(".git/c.yaml", broken)
	cat, ds = Load([]string{dir}, Options{Activities: goldenActivities})
	if ds.HasErrors() {
		t.Fatalf("editor and hidden files were read: %s", ds.Error())
	}
	if want := []string{filepath.Join(dir, "a.yaml"), filepath.Join(dir, "sub/b.yml")}; !slices.Equal(cat.Files, want) {
		t.Fatalf("files %v, want %v", cat.Files, want)
	}
	// A missing path is an error naming it; nothing loads.
	missing := filepath.Join(dir, "missing.yaml")
	cat, ds = Load([]string{dir, missing}, Options{Activities: goldenActivities})
	if cat != nil || len(ds) != 1 || ds[0].Pos.File != missing || !strings.Contains(ds[0].Message, "cannot read") {
		t.Fatalf("catalogue %v, diagnostics %v", cat, ds)
	}
}

// TestNilActivitiesWarn: without a registry every activity loads, with a
// warning; built-ins need no registry.
func TestNilActivitiesWarn(t *testing.T) {
	src := "memflow: v1\nworkflows:\n  w:\n    entity: doc\n    steps:\n      - activity: anything\n      - activity: log\n"
	cat, ds := LoadFiles(map[string][]byte{"f.yaml": []byte(src)}, Options{})
	if cat == nil || len(ds) != 1 || ds[0].Severity != dsl.Warning || ds[0].Pos.Line != 6 {
		t.Fatalf("catalogue %v, diagnostics %v", cat, ds)
	}
	// LaxActivities: unknown activities warn even with a registry.
	cat, ds = LoadFiles(map[string][]byte{"f.yaml": []byte(src)}, Options{Activities: goldenActivities, LaxActivities: true})
	if cat == nil || len(ds) != 1 || !strings.Contains(ds[0].Message, `unknown activity "anything"`) {
		t.Fatalf("catalogue %v, diagnostics %v", cat, ds)
	}
}

// TestErrorFloodCapped: a file with hundreds of errors reports the first
// MaxErrorsPerFile and a count of the rest.
func TestErrorFloodCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("memflow: v1\nworkflows:\n  w:\n    entity: doc\n    steps:\n")
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&b, "      - activity: nope%d\n", i)
	}
	cat, ds := LoadFiles(map[string][]byte{"f.yaml": []byte(b.String())}, Options{Activities: goldenActivities})
	if cat != nil || len(ds) != MaxErrorsPerFile+1 {
		t.Fatalf("got %d diagnostics", len(ds))
	}
	last := ds[len(ds)-1]
	if last.Message != "too many errors: 150 more in this file not shown" {
		t.Fatalf("last: %v", last)
	}
}

// TestVersionStable: the version depends on the program only, and changes
// with it.
func TestVersionStable(t *testing.T) {
	src := "memflow: v1\nworkflows:\n  w:\n    entity: doc\n    steps:\n      - activity: work\n"
	load := func(s string) string {
		cat, ds := LoadFiles(map[string][]byte{"f.yaml": []byte(s)}, Options{Activities: goldenActivities})
		if cat == nil {
			t.Fatal(ds.Error())
		}
		return cat.Programs["w"].Version
	}
	v1, v2 := load(src), load(src)
	v3 := load(strings.Replace(src, "activity: work", "activity: notify", 1))
	if v1 != v2 || v1 == v3 || len(v1) != 32 {
		t.Fatalf("versions %s %s %s", v1, v2, v3)
	}
}

func TestDecodeProgramRejectsBadLinks(t *testing.T) {
	if _, err := DecodeProgram([]byte(`{"name":"w","workflow":{"entry":5,"states":[]}}`)); err == nil {
		t.Fatal("entry out of range accepted")
	}
	if _, err := DecodeProgram([]byte(`{"name":"w"}`)); err == nil {
		t.Fatal("program without a graph accepted")
	}
	if _, err := DecodeProgram([]byte(`not json`)); err == nil {
		t.Fatal("bad JSON accepted")
	}
}

// TestEvalErrorNamesExpressionLine: an evaluation error inside a block map
// names the line of the failing expression, also after a JSON round trip.
func TestEvalErrorNamesExpressionLine(t *testing.T) {
	src := "memflow: v1\nworkflows:\n  w:\n    entity: doc\n    steps:\n      - merge:\n          a: 1\n          b: ${ input.x.y }\n"
	cat, ds := LoadFiles(map[string][]byte{"f.yaml": []byte(src)}, Options{Activities: goldenActivities})
	if cat == nil {
		t.Fatal(ds.Error())
	}
	p := cat.Programs["w"]
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := DecodeProgram(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, prog := range []*Program{p, q} {
		_, err := prog.Workflow.States[0].Commands[0].Value.Eval(&Env{Input: map[string]any{}})
		if err == nil || !strings.Contains(err.Error(), "f.yaml:8:17:") {
			t.Fatalf("error %v, want it at f.yaml:8:17", err)
		}
	}
}
