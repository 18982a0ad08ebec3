package compiler

import (
	"strings"
	"testing"
)

// The base catalogue: parent starts hook used (which starts child kid) and
// never starts hook unused; other is an unrelated workflow in another file.
var versionBase = map[string]string{
	"a.yaml": `memflow: v1
workflows:
  parent:
    entity: doc
    steps:
      - hook: used
      - activity: work
  kid:
    entity: doc
    steps:
      - activity: work
hooks:
  used:
    steps:
      - workflow: kid
  unused:
    steps:
      - activity: work
`,
	"b.yaml": `memflow: v1
workflows:
  other:
    entity: doc
    steps:
      - activity: work
`,
}

func loadVersions(t *testing.T, files map[string]string) map[string]string {
	t.Helper()
	in := map[string][]byte{}
	for n, s := range files {
		in[n] = []byte(s)
	}
	cat, ds := LoadFiles(in, Options{App: "test", Activities: goldenActivities})
	if cat == nil {
		t.Fatalf("load: %v", ds)
	}
	out := map[string]string{}
	for n, p := range cat.Programs {
		out[n] = p.Version
	}
	return out
}

func TestVersionChangesExactlyWithWhatRuns(t *testing.T) {
	base := loadVersions(t, versionBase)
	edit := func(file, old, new string) map[string]string {
		files := map[string]string{}
		for k, v := range versionBase {
			files[k] = v
		}
		if !strings.Contains(files[file], old) {
			t.Fatalf("%q not in %s", old, file)
		}
		files[file] = strings.Replace(files[file], old, new, 1)
		return files
	}
	moved := map[string]string{"b.yaml": versionBase["b.yaml"], "c.yaml": `memflow: v1
workflows:
  kid:
    entity: doc
    steps:
      - activity: work
`, "a.yaml": strings.Replace(versionBase["a.yaml"], "  kid:\n    entity: doc\n    steps:\n      - activity: work\n", "", 1)}
	for _, tc := range []struct {
		name  string
		files map[string]string
		same  bool
	}{
		{"comment", edit("a.yaml", "memflow: v1\n", "memflow: v1\n# the order flow\n"), true},
		{"whitespace", edit("a.yaml", "      - hook: used\n", "\n\n      - hook:   used   \n"), true},
		{"moved to another file", func() map[string]string {
			files := edit("a.yaml", "workflows:\n  parent:", "workflows:\n  zzz:\n    entity: doc\n    steps:\n      - activity: work\n  parent:")
			return files
		}(), true},
		{"unrelated workflow edited", edit("b.yaml", "activity: work", "activity: notify"), true},
		{"unrelated workflow deleted", map[string]string{"a.yaml": versionBase["a.yaml"]}, true},
		{"unused hook edited", edit("a.yaml", "  unused:\n    steps:\n      - activity: work", "  unused:\n    steps:\n      - activity: notify"), true},
		{"unused hook deleted", edit("a.yaml", "  unused:\n    steps:\n      - activity: work\n", ""), true},
		{"child moved to another file", moved, true},
		{"own step edited", edit("a.yaml", "      - activity: work\n  kid:", "      - activity: notify\n  kid:"), false},
		{"started hook edited", edit("a.yaml", "      - workflow: kid\n", "      - workflow: kid\n      - activity: work\n"), false},
		{"child's program edited", edit("a.yaml", "  kid:\n    entity: doc\n    steps:\n      - activity: work", "  kid:\n    entity: doc\n    steps:\n      - activity: notify"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := loadVersions(t, tc.files)["parent"]
			if got == "" {
				t.Fatal("parent has no version")
			}
			if (got == base["parent"]) != tc.same {
				t.Errorf("parent version %s, base %s: want same=%v", got, base["parent"], tc.same)
			}
		})
	}
	// Whole-file move of parent itself.
	t.Run("parent moved to another file", func(t *testing.T) {
		files := map[string]string{"b.yaml": versionBase["b.yaml"], "z/other-name.yaml": versionBase["a.yaml"]}
		if got := loadVersions(t, files)["parent"]; got != base["parent"] {
			t.Errorf("version changed on move: %s vs %s", got, base["parent"])
		}
	})
}

// versionAfterRoundTrip recomputes q's version with the other programs of
// cat, as the loader would.
func versionAfterRoundTrip(cat *Catalogue, q *Program) (string, error) {
	progs := map[string]*Program{}
	for n, p := range cat.Programs {
		c := *p
		progs[n] = &c
	}
	progs[q.Name] = q
	if err := versions(progs); err != nil {
		return "", err
	}
	return q.Version, nil
}
