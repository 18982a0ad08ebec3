package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/memflow/memflow"
)

// watchFlows reloads the flows when a file under paths changes. A flow that
// does not load leaves the previous versions serving and reports why.
func watchFlows(ctx context.Context, eng *memflow.Engine, paths []string, log io.Writer) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		fmt.Fprintln(log, "watch:", err)
		return
	}
	defer w.Close()
	for _, p := range paths {
		dirs := []string{p}
		if info, err := os.Stat(p); err == nil && !info.IsDir() {
			dirs = []string{filepath.Dir(p)}
		} else {
			_ = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
				if err == nil && d.IsDir() && path != p {
					dirs = append(dirs, path)
				}
				return nil
			})
		}
		for _, d := range dirs {
			if err := w.Add(d); err != nil {
				fmt.Fprintln(log, "watch:", err)
			}
		}
	}
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if strings.HasSuffix(ev.Name, ".yaml") || strings.HasSuffix(ev.Name, ".yml") {
				debounce = time.After(200 * time.Millisecond)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			fmt.Fprintln(log, "watch:", err)
		case <-debounce:
			if err := eng.LoadFlows(ctx, paths...); err != nil {
				fmt.Fprintf(log, "reload failed; previous versions keep serving:\n%v\n", err)
				continue
			}
			fmt.Fprintf(log, "reloaded flows: %v\n", eng.Workflows())
		}
	}
}
