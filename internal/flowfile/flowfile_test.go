package flowfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

func TestIs(t *testing.T) {
	for name, want := range map[string]bool{
		"a.yaml": true, "dir/b.yml": true, "C.YAML": true, "a.json": false, ".#a.yaml": false,
		"#a.yaml#": false, "a.yaml~": false, ".a.yaml.swp": false, "4913": false, ".hidden.yaml": false,
		"a.yaml___jb_tmp___": false,
	} {
		if got := Is(name); got != want {
			t.Errorf("Is(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestList(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.yaml", "sub/b.yml", "sub/deeper/c.yaml", ".git/x.yaml", ".#a.yaml", "a.yaml~", "readme.md"} {
		write(t, filepath.Join(dir, f), "x")
	}
	single := filepath.Join(t.TempDir(), "single.yaml")
	write(t, single, "x")
	missing := filepath.Join(dir, "missing")
	got, errs := List([]string{dir, single, missing})
	want := []string{filepath.Join(dir, "a.yaml"), filepath.Join(dir, "sub/b.yml"), filepath.Join(dir, "sub/deeper/c.yaml"), single}
	slices.Sort(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("List = %v\nwant    %v", got, want)
	}
	var re *ReadError
	if len(errs) != 1 || !errors.As(errs[0], &re) || re.Path != missing || !errors.Is(errs[0], fs.ErrNotExist) ||
		errs[0].Error() != missing+": cannot read: "+re.Err.Error() {
		t.Errorf("errors = %v, want one naming the missing path", errs)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Test files live beside flows: List leaves them out and ListTests lists
// only them, with the same walk (hidden folders skipped).
func TestListTests(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.yaml", "a.test.yaml", "sub/b.test.yml", ".git/c.test.yaml", ".x.test.yaml"} {
		write(t, filepath.Join(dir, f), "x")
	}
	tests, errs := ListTests([]string{dir})
	want := []string{filepath.Join(dir, "a.test.yaml"), filepath.Join(dir, "sub/b.test.yml")}
	if len(errs) != 0 || !reflect.DeepEqual(tests, want) {
		t.Errorf("ListTests = %v, %v\nwant %v", tests, errs, want)
	}
	if flows, _ := List([]string{dir}); !reflect.DeepEqual(flows, []string{filepath.Join(dir, "a.yaml")}) {
		t.Errorf("List = %v, want only a.yaml", flows)
	}
}
