package memflow

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// A wait that ends while the database is failing says so, with how long and
// the last database error, instead of reporting a timeout (which the CLI
// prints as "still running"); one that ends otherwise reports ctx's error.
func TestRetryingEnded(t *testing.T) {
	var r retrying
	if err := r.ended("result of \"x\"", context.DeadlineExceeded); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("without database errors: %v", err)
	}
	first := errors.New("connection refused")
	last := errors.New("FATAL: terminating connection due to administrator command (SQLSTATE 57P01)")
	var waits []time.Duration
	for _, err := range []error{first, first, first, first, first, first, first, last} {
		waits = append(waits, r.failed(err))
	}
	if waits[0] != 50*time.Millisecond || waits[1] != 100*time.Millisecond || waits[7] != 2*time.Second {
		t.Errorf("back-off %v", waits)
	}
	err := r.ended("result of \"x\"", context.DeadlineExceeded)
	if errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, last) ||
		!strings.Contains(err.Error(), `result of "x": the database kept failing for `) ||
		!strings.Contains(err.Error(), "retried until the wait ended (context deadline exceeded); last error: FATAL: terminating") {
		t.Errorf("after database errors: %v", err)
	}
}
