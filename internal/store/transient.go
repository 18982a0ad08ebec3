package store

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// IsTransient reports whether err is a database failure that may pass if
// the same read is tried again: a connection refused, reset or terminated
// (a server restarting, an administrator ending sessions), a serialization
// failure or deadlock, too many connections, a busy or locked SQLite file.
// A database call that ran out of its time (context.DeadlineExceeded) is
// transient too: callers that wait on a context of their own check it
// first. Not found, a cancelled context, a command that cannot apply, a
// query the database rejects (bad SQL, permissions, a missing schema) and
// anything unknown are permanent: retrying them would only hide the problem.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrCommand) || errors.Is(err, ErrPath) ||
		errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		if strings.HasPrefix(pe.Code, "08") { // connection exception
			return true
		}
		switch pe.Code[:2] {
		case "40", // serialization failure, deadlock
			"53", // insufficient resources: too many connections, out of memory or disk
			"55", // lock not available, object in use
			"57", // operator intervention: admin or crash shutdown, cannot connect now
			"58": // system error
			return true
		}
		return false
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce), errors.As(err, &ne), pgconn.SafeToRetry(err),
		errors.Is(err, pgconn.ErrConnClosed),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE):
		return true
	}
	// pgx reports a connection that died mid-query with these texts, not
	// always wrapping a typed error.
	msg := err.Error()
	for _, s := range []string{"conn closed", "unexpected EOF", "connection reset", "broken pipe",
		"failed to receive message", "failed to write", "connection refused", "failed to connect",
		"closed pool", "server closed the connection", "the database system is"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
