package runtime

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// underAny decides which serving workflows a reload of some paths may
// retire: only those whose file lies under them.
func TestUnderAny(t *testing.T) {
	abs, err := filepath.Abs("flows/a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file  string
		paths []string
		want  bool
	}{
		{"flows/a.yaml", []string{"flows"}, true},
		{"flows/sub/a.yaml", []string{"flows/"}, true},
		{"flows/a.yaml", []string{"flows/a.yaml"}, true},
		{abs, []string{"flows"}, true},
		{"flows/a.yaml", []string{filepath.Dir(abs)}, true},
		{"flows-old/a.yaml", []string{"flows"}, false},
		{"other/a.yaml", []string{"flows", "more"}, false},
		{"flows/a.yaml", nil, false},
		{"", []string{"."}, false},
	} {
		if got := underAny(tc.file, tc.paths); got != tc.want {
			t.Errorf("underAny(%q, %q) = %v, want %v", tc.file, tc.paths, got, tc.want)
		}
	}
}

func TestRetiredError(t *testing.T) {
	err := error(&RetiredError{Name: "old", Version: "abc", File: "flows/old.yaml", At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
	want := `workflow "old" was removed from the flows (last version abc, file flows/old.yaml, removed 2026-01-02T03:04:05Z)`
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
	if !errors.Is(err, ErrRetired) || !errors.Is(err, ErrNotFound) {
		t.Errorf("%v is not ErrRetired and ErrNotFound", err)
	}
	if strings.Contains(err.Error(), "not found") {
		t.Errorf("message should speak of removal: %s", err)
	}
}
