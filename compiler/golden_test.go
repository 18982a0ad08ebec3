package compiler

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/compile and testdata/invalid")

// archive is a txtar-style file: a comment, then `-- name --` sections.
type archive struct {
	comment string
	files   []section
}

type section struct {
	name string
	data string
}

func parseArchive(s string) archive {
	var a archive
	cur := -1
	var b strings.Builder
	flush := func() {
		if cur < 0 {
			a.comment = b.String()
		} else {
			a.files[cur].data = b.String()
		}
		b.Reset()
	}
	for _, line := range strings.SplitAfter(s, "\n") {
		t := strings.TrimRight(line, "\n")
		if strings.HasPrefix(t, "-- ") && strings.HasSuffix(t, " --") && len(t) > 6 {
			flush()
			a.files = append(a.files, section{name: strings.TrimSpace(t[3 : len(t)-3])})
			cur = len(a.files) - 1
			continue
		}
		b.WriteString(line)
	}
	flush()
	return a
}

func (a archive) format() string {
	var b strings.Builder
	b.WriteString(a.comment)
	for _, f := range a.files {
		b.WriteString("-- " + f.name + " --\n")
		b.WriteString(f.data)
		if f.data != "" && !strings.HasSuffix(f.data, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// testActivities is the activity registry golden flows are checked against.
type testActivities []string

func (t testActivities) Has(name string) bool { return contains(t, name) }
func (t testActivities) Names() []string      { return t }

var goldenActivities = testActivities{"llm.perspective", "email.send", "research.verify", "research.perspective", "work", "notify"}

// compileArchive loads an archive's flow files and renders the result: the
// program dumps, or the diagnostics with their source lines.
func compileArchive(a archive) string {
	files := map[string][]byte{}
	for _, f := range a.files {
		if f.name != "want" {
			files[f.name] = []byte(f.data)
		}
	}
	cat, ds := LoadFiles(files, Options{App: "test", Activities: goldenActivities})
	var b bytes.Buffer
	_ = ds.Render(&b, files)
	if cat != nil {
		fmt.Fprintf(&b, "catalogue: %d programs\n", len(cat.Programs))
		names := make([]string, 0, len(cat.Programs))
		for n := range cat.Programs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			cat.Programs[n].Dump(&b)
		}
	}
	return b.String()
}

func runGoldens(t *testing.T, dir string, wantErrors bool) {
	paths, err := filepath.Glob(filepath.Join("..", "testdata", dir, "*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no goldens in testdata/%s", dir)
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txtar"), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			a := parseArchive(string(data))
			got := compileArchive(a)
			if strings.Contains(got, "catalogue: ") == wantErrors {
				t.Errorf("%s: expected %s", path, map[bool]string{true: "errors", false: "a compiled program"}[wantErrors])
			}
			i := -1
			for j, f := range a.files {
				if f.name == "want" {
					i = j
				}
			}
			if *update {
				if i < 0 {
					a.files = append(a.files, section{name: "want"})
					i = len(a.files) - 1
				}
				a.files[i].data = got
				if err := os.WriteFile(path, []byte(a.format()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if i < 0 {
				t.Fatalf("%s has no `-- want --` section (run with -update)", path)
			}
			if want := a.files[i].data; got != want {
				t.Errorf("%s: output differs (run with -update to accept)\n--- got\n%s--- want\n%s", path, got, want)
			}
		})
	}
}

func TestCompileGoldens(t *testing.T) { runGoldens(t, "compile", false) }
func TestInvalidGoldens(t *testing.T) { runGoldens(t, "invalid", true) }
