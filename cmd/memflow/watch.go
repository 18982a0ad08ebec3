package main

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/memflow/memflow"
)

// startWatch loads the flows at paths, then loads them again after every
// change to their files until the returned stop is called or ctx ends,
// printing one line per load to w (plus the errors when the flows did not
// load; the previous versions keep serving then). It returns after the first
// load.
func startWatch(ctx context.Context, eng *memflow.Engine, paths []string, w io.Writer) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	var mu sync.Mutex
	first := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		done <- eng.Watch(ctx, memflow.WatchConfig{Paths: paths, OnReload: func(r memflow.Reload) {
			mu.Lock()
			fmt.Fprintln(w, r.String())
			mu.Unlock()
			once.Do(func() { close(first) })
		}})
	}()
	select {
	case <-first:
		return func() { cancel(); <-done }, nil
	case err := <-done:
		cancel()
		return func() {}, err
	}
}
