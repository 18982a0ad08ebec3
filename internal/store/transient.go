package store

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// IsTransient reports whether err is an infrastructure failure that the same
// operation may get past when tried again: a lost or refused connection, a
// server shutting down or restarting, a serialization failure or deadlock,
// a busy SQLite file, or a database call that timed out. Errors about the
// data or the request itself (not found, a command that cannot apply, a
// constraint or syntax error) are not transient.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrCommand) || errors.Is(err, ErrPath) || errors.Is(err, context.Canceled) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:2] {
		case "08", // connection exception
			"40", // serialization failure, deadlock
			"53", // insufficient resources
			"55", // lock not available, object in use
			"57", // operator intervention: shutdown, crash, query cancelled
			"58": // system error
			return true
		}
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return true
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"conn closed", "closed pool", "connection reset", "broken pipe", "unexpected eof",
		"failed to connect", "connection refused", "database is locked", "sqlite_busy", "server closed the connection",
		"terminating connection", "the database system is"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
