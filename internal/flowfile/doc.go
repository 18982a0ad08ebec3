// Package flowfile says which files are flow files and lists those under
// a set of paths. It is the one place for that rule: the compiler's Load
// reads what List returns, and the hot-reload watcher (internal/watch)
// reacts to the files Is accepts, so what triggers a reload and what the
// reload reads agree.
//
// A flow file is *.yaml or *.yml, not hidden, and not an editor's lock,
// autosave, backup or temporary file; hidden folders (.git) are skipped.
//
// flowfile imports the standard library only.
package flowfile
