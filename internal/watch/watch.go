package watch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/memflow/memflow/internal/flowfile"
)

// DefaultQuiet is how long the files must stay still before a burst of
// changes is reported.
const DefaultQuiet = 200 * time.Millisecond

// Timer is a stoppable one-shot timer; Config.NewTimer lets tests fire it.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

// Config configures a Watcher. Zero fields take defaults.
type Config struct {
	// Paths are flow files or folders (watched recursively). Required.
	Paths []string
	// Quiet is the quiet period that ends a burst. Default DefaultQuiet.
	Quiet time.Duration
	// NewTimer starts a timer of d. Default: a time.Timer.
	NewTimer func(d time.Duration) Timer
	// OnError receives errors of the underlying watcher (an overflowing
	// event queue, a folder that cannot be watched). Default: ignored.
	OnError func(error)
}

func (c *Config) validate() error {
	if len(c.Paths) == 0 {
		return errors.New("watch config: Paths is empty")
	}
	if c.Quiet < 0 {
		return fmt.Errorf("watch config: Quiet %s is negative", c.Quiet)
	}
	if c.Quiet == 0 {
		c.Quiet = DefaultQuiet
	}
	if c.NewTimer == nil {
		c.NewTimer = func(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }
	}
	if c.OnError == nil {
		c.OnError = func(error) {}
	}
	return nil
}

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time { return r.t.C }
func (r realTimer) Stop() bool          { return r.t.Stop() }

// Watcher reports changes to the flow files under its paths. Create it with
// New, then call Run once.
type Watcher struct {
	cfg   Config
	fs    *fsnotify.Watcher
	roots map[string]bool // folders given in Paths (cleaned)
	files map[string]bool // files given in Paths (cleaned)
	dirs  map[string]bool // every folder watched
}

// New starts watching cfg.Paths: every folder under them, and the folder of
// each file path (a rename over a file replaces the inode a file watch would
// follow). A path that does not exist is an error.
func New(cfg Config) (*Watcher, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	w := &Watcher{cfg: cfg, fs: fw, roots: map[string]bool{}, files: map[string]bool{}, dirs: map[string]bool{}}
	for _, p := range cfg.Paths {
		p = filepath.Clean(p)
		info, err := os.Stat(p)
		if err != nil {
			fw.Close()
			return nil, fmt.Errorf("watch %s: %w", p, err)
		}
		if !info.IsDir() {
			w.files[p] = true
			err = w.addDir(filepath.Dir(p))
		} else {
			w.roots[p] = true
			err = w.addTree(p)
		}
		if err != nil {
			fw.Close()
			return nil, err
		}
	}
	return w, nil
}

func (w *Watcher) addDir(dir string) error {
	if w.dirs[dir] {
		return nil
	}
	if err := w.fs.Add(dir); err != nil {
		return fmt.Errorf("watch %s: %w", dir, err)
	}
	w.dirs[dir] = true
	return nil
}

// addTree watches dir and every folder below it.
func (w *Watcher) addTree(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path != dir && errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return fmt.Errorf("watch %s: %w", path, err)
		}
		if !d.IsDir() {
			return nil
		}
		if path != dir && flowfile.SkipDir(path) {
			return filepath.SkipDir
		}
		return w.addDir(path)
	})
}

// Close stops watching. Run returns when its context ends; Close is for a
// Watcher whose Run was never called.
func (w *Watcher) Close() error { return w.fs.Close() }

// Run calls changed once after each burst of flow file changes, with the
// paths that changed (sorted), until ctx ends; then it closes the watcher.
// A burst ends when no relevant event arrived for the quiet period. Changes
// made while changed runs form the next burst. Folders created under a
// watched folder are watched from then on.
func (w *Watcher) Run(ctx context.Context, changed func(ctx context.Context, paths []string)) error {
	defer w.fs.Close()
	return w.loop(ctx, w.fs.Events, w.fs.Errors, changed)
}

func (w *Watcher) loop(ctx context.Context, events <-chan fsnotify.Event, errs <-chan error, changed func(context.Context, []string)) error {
	var timer Timer
	var fire <-chan time.Time
	pending := map[string]bool{}
	stop := func() {
		if timer != nil {
			timer.Stop()
			timer, fire = nil, nil
		}
	}
	rearm := func() {
		stop()
		timer = w.cfg.NewTimer(w.cfg.Quiet)
		fire = timer.C()
	}
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				return errors.New("watch: event stream closed")
			}
			if !w.relevant(ev) {
				continue
			}
			pending[ev.Name] = true
			rearm()
		case err, ok := <-errs:
			if !ok {
				return errors.New("watch: error stream closed")
			}
			w.cfg.OnError(fmt.Errorf("watch: %w", err))
			if errors.Is(err, fsnotify.ErrEventOverflow) { // events were lost: load again to be sure
				rearm()
			}
		case <-fire:
			timer, fire = nil, nil
			paths := make([]string, 0, len(pending))
			for p := range pending {
				paths = append(paths, p)
			}
			sort.Strings(paths)
			clear(pending)
			changed(ctx, paths)
		}
	}
}

// relevant reports whether ev may change what Files lists or reads, and
// follows folders: a new folder is watched (it may already hold flow files,
// so it counts as a change); a watched folder removed or renamed counts too.
func (w *Watcher) relevant(ev fsnotify.Event) bool {
	name := filepath.Clean(ev.Name)
	if !w.inScope(name) {
		return false
	}
	if w.dirs[name] && ev.Has(fsnotify.Remove|fsnotify.Rename) {
		delete(w.dirs, name)
		_ = w.fs.Remove(name) // already gone with the folder on most systems
		if w.roots[name] {
			// Watch the parent so the folder is picked up again when it
			// comes back (a checkout that emptied it, a move and back).
			if err := w.addDir(filepath.Dir(name)); err != nil {
				w.cfg.OnError(fmt.Errorf("watch: %s was removed and its parent cannot be watched: %w", name, err))
			}
		}
		return true
	}
	if ev.Has(fsnotify.Create) && !w.files[name] {
		if info, err := os.Stat(name); err == nil && info.IsDir() {
			if flowfile.SkipDir(name) && !w.roots[name] {
				return false
			}
			if err := w.addTree(name); err != nil {
				w.cfg.OnError(err)
			}
			return true
		}
	}
	if ev.Op == fsnotify.Chmod {
		return false
	}
	return w.files[name] || flowfile.Is(name)
}

// inScope reports whether name is a watched file or lies under a watched
// root (a folder next to a watched file is not in scope).
func (w *Watcher) inScope(name string) bool {
	if w.files[name] {
		return true
	}
	for dir := name; ; {
		if w.roots[dir] {
			return true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return false
		}
		if flowfile.SkipDir(dir) && !w.roots[dir] && dir != name {
			return false
		}
		dir = parent
	}
}
