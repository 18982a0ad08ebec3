// Package watch tells when the flow files under some folders change, so the
// engine can load its catalogue again. It watches directories rather than
// files (editors save by writing a temporary file and renaming it over the
// original, which a file watch would lose), follows sub-folders created
// later, ignores everything but *.yaml and *.yml (and editor lock, backup and
// temporary files), and folds a burst of events into one notification after
// a quiet period.
//
// Which files count is internal/flowfile's rule, the one the compiler's Load
// lists with, so what triggers a reload and what the reload reads agree.
//
// watch imports fsnotify, internal/flowfile and the standard library only.
package watch
