// Package memflow is the Go API of memflow, a durable workflow engine for
// flows written in YAML: open an engine on a database, register activities
// (plain Go functions), load flow files, run workers, and start, signal,
// hook, cancel and inspect workflow instances.
//
//	eng, err := memflow.Open(ctx, "sqlite:app.db", memflow.Config{App: "my-app"})
//	eng.Register("greet", func(ctx context.Context, in Greeting) (string, error) { ... })
//	eng.LoadFlows(ctx, "flows/")
//	go eng.Run(ctx, memflow.WorkerConfig{})
//	id, err := eng.Start(ctx, "hello", map[string]any{"name": "Ana"})
//	result, err := eng.Result(ctx, id)
//
// The database URL is postgres://... for Postgres, sqlite:PATH for an
// embedded SQLite file, or "" for the default file .memflow/memflow.db.
//
// memflow wires the compiler, the runtime, the activities registry and the
// store together; it is the only package most users import (plus activities
// for InfoFrom and the retry helpers).
package memflow
