package flowfile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Is reports whether path names a flow file: *.yaml or *.yml, not hidden
// and not an editor's lock, autosave or backup file (".#x.yaml",
// "#x.yaml#", "x.yaml~", ".x.yaml.swp", vim's "4913" probe), and not a
// flow test file (*.test.yaml, see IsTest): tests live beside the flows they
// test without being loaded as flows.
func Is(path string) bool {
	base := filepath.Base(path)
	if hidden(base) || IsTest(path) {
		return false
	}
	switch strings.ToLower(filepath.Ext(base)) {
	case ".yaml", ".yml":
		return true
	}
	return false
}

// IsTest reports whether path names a flow test file: *.test.yaml or
// *.test.yml, not hidden (memflow test runs them).
func IsTest(path string) bool {
	base := strings.ToLower(filepath.Base(path))
	return !hidden(base) && (strings.HasSuffix(base, ".test.yaml") || strings.HasSuffix(base, ".test.yml"))
}

// hidden reports whether a file's base name marks it hidden or an editor's
// lock or autosave file.
func hidden(base string) bool { return strings.HasPrefix(base, ".") || strings.HasPrefix(base, "#") }

// SkipDir reports whether a folder below a listed or watched root is left
// out: hidden folders such as .git.
func SkipDir(path string) bool { return strings.HasPrefix(filepath.Base(path), ".") }

// ReadError is a path List could not read.
type ReadError struct {
	Path string
	Err  error
}

func (e *ReadError) Error() string { return fmt.Sprintf("%s: cannot read: %v", e.Path, e.Err) }

// Unwrap returns the underlying error.
func (e *ReadError) Unwrap() error { return e.Err }

// List lists the flow files of paths, sorted: a path naming a file is
// listed as given; a folder is walked recursively (hidden folders
// skipped). A path that cannot be read is a *ReadError naming it; the files
// found elsewhere are still returned.
func List(paths []string) ([]string, []error) { return list(paths, Is) }

// ListTests is List for flow test files (IsTest).
func ListTests(paths []string) ([]string, []error) { return list(paths, IsTest) }

// list lists the files of paths that keep accepts, as List describes.
func list(paths []string, keep func(string) bool) ([]string, []error) {
	var out []string
	var errs []error
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, root := range paths {
		info, err := os.Stat(root)
		if err != nil {
			errs = append(errs, &ReadError{Path: root, Err: err})
			continue
		}
		if !info.IsDir() {
			add(root)
			continue
		}
		err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				errs = append(errs, &ReadError{Path: path, Err: err})
				return nil
			}
			if d.IsDir() {
				if path != root && SkipDir(path) {
					return filepath.SkipDir
				}
				return nil
			}
			if keep(path) {
				add(path)
			}
			return nil
		})
		if err != nil {
			errs = append(errs, &ReadError{Path: root, Err: err})
		}
	}
	sort.Strings(out)
	return out, errs
}
