package watch

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// IsFlowFile reports whether path names a flow file: *.yaml or *.yml, not
// hidden and not an editor's lock, autosave or backup file (".#x.yaml",
// "#x.yaml#", "x.yaml~", ".x.yaml.swp", vim's "4913" probe).
func IsFlowFile(path string) bool {
	base := filepath.Base(path)
	if strings.HasPrefix(base, ".") || strings.HasPrefix(base, "#") {
		return false
	}
	switch strings.ToLower(filepath.Ext(base)) {
	case ".yaml", ".yml":
		return true
	}
	return false
}

// skipDir reports whether a folder below a watched root is left out: hidden
// folders such as .git.
func skipDir(path string) bool { return strings.HasPrefix(filepath.Base(path), ".") }

// Files lists the flow files of paths, sorted: a path naming a file is
// listed as given; a folder is walked recursively (hidden folders skipped).
// A path that cannot be read is an error naming it; the files found
// elsewhere are still returned.
func Files(paths []string) ([]string, []error) {
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
			errs = append(errs, fmt.Errorf("%s: cannot read: %w", root, err))
			continue
		}
		if !info.IsDir() {
			add(root)
			continue
		}
		err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: cannot read: %w", path, err))
				return nil
			}
			if d.IsDir() {
				if path != root && skipDir(path) {
					return filepath.SkipDir
				}
				return nil
			}
			if IsFlowFile(path) {
				add(path)
			}
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: cannot read: %w", root, err))
		}
	}
	sort.Strings(out)
	return out, errs
}
