package memflow

import "github.com/memflow/memflow/internal/store"

// WithStoreWrapper returns cfg with a wrapper around the opened store, so
// tests can inject infrastructure faults into a real store.
func WithStoreWrapper(cfg Config, wrap func(store.Store) store.Store) Config {
	cfg.wrapStore = wrap
	return cfg
}
