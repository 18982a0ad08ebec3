package activities

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Error is a typed activity error. Type is what a flow's
// `retry.nonRetryable` list and a catch block's `error.type` match.
type Error struct {
	Type    string
	Message string
}

func (e *Error) Error() string {
	if e.Type == "" {
		return e.Message
	}
	return e.Type + ": " + e.Message
}

// ErrorType is the Type of the first *Error in err's chain, or "" if none.
func ErrorType(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Type
	}
	return ""
}

type nonRetryable struct{ err error }

func (e *nonRetryable) Error() string { return e.err.Error() }
func (e *nonRetryable) Unwrap() error { return e.err }

// NonRetryable marks err so the runtime fails the step at once instead of
// retrying it.
func NonRetryable(err error) error {
	if err == nil {
		return nil
	}
	return &nonRetryable{err: err}
}

// IsNonRetryable reports whether err was marked with NonRetryable.
func IsNonRetryable(err error) bool {
	var n *nonRetryable
	return errors.As(err, &n)
}

type retryAfter struct {
	after time.Duration
	err   error
}

func (e *retryAfter) Error() string { return fmt.Sprintf("%v (retry after %s)", e.err, e.after) }
func (e *retryAfter) Unwrap() error { return e.err }

// RetryAfter asks the runtime to retry no sooner than d (for example a rate
// limit's Retry-After), still within the step's attempt budget.
func RetryAfter(d time.Duration, err error) error {
	if err == nil {
		err = errors.New("retry requested")
	}
	return &retryAfter{after: d, err: err}
}

// RetryDelay is the delay requested with RetryAfter, if any.
func RetryDelay(err error) (time.Duration, bool) {
	var r *retryAfter
	if errors.As(err, &r) {
		return r.after, true
	}
	return 0, false
}

// Info identifies one activity attempt.
type Info struct {
	WorkflowID string
	StepID     string
	Thread     string // "" for the workflow's main thread
	Iteration  int    // how many times this thread entered the step, from 1
	Attempt    int    // from 1
	// IdempotencyKey is the same for every attempt of one step iteration and
	// different across iterations: use it to deduplicate side effects.
	IdempotencyKey string
}

type infoKey struct{}

// WithInfo returns ctx carrying info (used by the runtime).
func WithInfo(ctx context.Context, info Info) context.Context {
	return context.WithValue(ctx, infoKey{}, info)
}

// InfoFrom returns the attempt's Info; ok is false outside an activity.
func InfoFrom(ctx context.Context) (Info, bool) {
	info, ok := ctx.Value(infoKey{}).(Info)
	return info, ok
}
