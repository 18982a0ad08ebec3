package runtime

import (
	"errors"
	"time"
)

// Limits bounds what one instance, or one tree of instances, may do, so a
// runaway or hostile flow fails with a clear error (type LimitExceeded)
// instead of taking the store or the fleet down. Zero fields take the
// defaults below; docs/engine.md lists them.
type Limits struct {
	// MaxDescendants bounds the instances started under one root instance:
	// its children, their children and so on, detached or not. Default 10000.
	MaxDescendants int
	// MaxDepth bounds how deep children nest below their root (a root's
	// child is at depth 1). Default 32.
	MaxDepth int
	// MaxLoopIterations bounds the iterations of one while loop, also one
	// that declares no maxIterations of its own. Default 100000.
	MaxLoopIterations int
	// MaxHistory bounds the history rows one instance writes. Default 100000.
	MaxHistory int
	// MaxTaskAttempts bounds how often one task (other than an activity,
	// whose retry policy governs it) may be claimed without its handling
	// finishing: a task whose handling kills or keeps failing the worker
	// fails its instance with type InternalError after this many claims.
	// Default 10.
	MaxTaskAttempts int
	// DBTimeout bounds each database write a worker makes on a task's
	// behalf (a commit, a lease extension, a reschedule). Default 30s.
	DBTimeout time.Duration
	// PendingSignalTTL bounds how long a signal sent to an instance id that
	// does not exist yet is kept for an instance of that id to start;
	// older ones are dropped. Default 24h.
	PendingSignalTTL time.Duration
}

// Default limits.
const (
	DefaultMaxDescendants    = 10000
	DefaultMaxDepth          = 32
	DefaultMaxLoopIterations = 100000
	DefaultMaxHistory        = 100000
	DefaultMaxTaskAttempts   = 10
	DefaultDBTimeout         = 30 * time.Second
	DefaultPendingSignalTTL  = 24 * time.Hour
)

func (l *Limits) defaults() error {
	if l.MaxDescendants < 0 || l.MaxDepth < 0 || l.MaxLoopIterations < 0 || l.MaxHistory < 0 || l.MaxTaskAttempts < 0 || l.DBTimeout < 0 || l.PendingSignalTTL < 0 {
		return errors.New("runtime limits must not be negative")
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.MaxDescendants, DefaultMaxDescendants)
	def(&l.MaxDepth, DefaultMaxDepth)
	def(&l.MaxLoopIterations, DefaultMaxLoopIterations)
	def(&l.MaxHistory, DefaultMaxHistory)
	def(&l.MaxTaskAttempts, DefaultMaxTaskAttempts)
	if l.DBTimeout == 0 {
		l.DBTimeout = DefaultDBTimeout
	}
	if l.PendingSignalTTL == 0 {
		l.PendingSignalTTL = DefaultPendingSignalTTL
	}
	return nil
}
