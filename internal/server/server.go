// Package server is memflow serve: the JSON API under /api/v1, health and
// metrics endpoints, and the web console, over one Engine. It is a client
// of the store like any other process: several servers and workers can
// share a database.
package server

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memflow/memflow"
	"github.com/memflow/memflow/compiler"
	"github.com/memflow/memflow/internal/store"
	"go.opentelemetry.io/otel/propagation"
)

// DefaultMaxBody is the request body limit when Options.MaxBody is 0.
const DefaultMaxBody = 1 << 20

// Page sizes of the list endpoints.
const (
	defaultPage = 50
	maxPage     = 500
)

// Options configure a Server.
type Options struct {
	// Token, when set, is required on every API call (Authorization:
	// Bearer). ReadToken, when set, allows every read and nothing else.
	Token, ReadToken string
	// MaxBody limits request bodies (0: DefaultMaxBody).
	MaxBody int64
	// FlowPaths are the flow files and folders this process loads: the
	// editor opens their files, /validate checks a file among them.
	FlowPaths []string
	// AllowEdit lets the editor save files under FlowPaths.
	AllowEdit bool
	// Activities are the activity names flows may call (nil: not checked).
	Activities compiler.ActivitySet
	// Metrics serves GET /metrics (nil: 404).
	Metrics http.Handler
	// Logger receives one line per failed request (nil: discarded).
	Logger *slog.Logger
	// Poll is how often an event stream looks for new history rows when no
	// wake-up came (0: 400ms).
	Poll time.Duration
	// MaxStreams bounds the event streams open at once (0: 256); one more
	// is refused with 503 until another closes.
	MaxStreams int
}

// Server serves the API and the console. It is an http.Handler.
type Server struct {
	eng  *memflow.Engine
	opts Options
	mux  *http.ServeMux
	// closing ends the event streams (Close).
	closing   chan struct{}
	closeOnce sync.Once
	streams   atomic.Int64 // event streams open
}

// Close ends the open event streams, so that an http.Server's Shutdown
// does not wait for them. The server answers nothing else afterwards.
func (s *Server) Close() { s.closeOnce.Do(func() { close(s.closing) }) }

// New returns a server over eng.
func New(eng *memflow.Engine, opts Options) *Server {
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Poll <= 0 {
		opts.Poll = 400 * time.Millisecond
	}
	if opts.MaxStreams <= 0 {
		opts.MaxStreams = 256
	}
	s := &Server{eng: eng, opts: opts, mux: http.NewServeMux(), closing: make(chan struct{})}
	s.routes()
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	s.mux.ServeHTTP(w, r)
}

// access is what a route needs of the caller's token.
type access int

const (
	open  access = iota // no token needed
	read                // the read token or the token
	write               // the token
)

func (s *Server) handle(pattern string, need access, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if need != open && !s.allowed(w, r, need) {
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBody)
		}
		// A caller's traceparent: an instance started (or signalled) here
		// joins the caller's trace.
		if r.Header.Get("Traceparent") != "" {
			r = r.WithContext(propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header)))
		}
		h(w, r)
	})
}

// allowed checks the bearer token against need, answering 401 or 403 when
// it falls short.
func (s *Server) allowed(w http.ResponseWriter, r *http.Request, need access) bool {
	if s.opts.Token == "" && s.opts.ReadToken == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch {
	case ok && s.opts.Token != "" && same(got, s.opts.Token):
		return true
	case ok && s.opts.ReadToken != "" && same(got, s.opts.ReadToken):
		if need == read {
			return true
		}
		writeError(w, http.StatusForbidden, "forbidden", "the read token cannot change anything: this call needs the token")
		return false
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="memflow"`)
	if r.Header.Get("Authorization") == "" {
		writeError(w, http.StatusUnauthorized, "unauthorized", "this server needs a token: send Authorization: Bearer <token>")
	} else {
		writeError(w, http.StatusUnauthorized, "unauthorized", "the token is not valid here")
	}
	return false
}

// same compares two tokens in time that depends only on their lengths.
func same(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// apiError is the body of every error answer.
type apiError struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{errorBody{Code: code, Message: store.Redact(msg)}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"the answer could not be encoded"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// fail answers err with the status that fits it and logs what is not the
// caller's mistake.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code := classify(err)
	if status == http.StatusRequestEntityTooLarge {
		if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
			err = fmt.Errorf("the request body exceeds the %d byte limit", tooBig.Limit)
		}
	}
	if status >= 500 {
		s.opts.Logger.Warn("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", store.Redact(err.Error()))
	}
	writeError(w, status, code, err.Error())
}

// classify maps an engine error to an HTTP status and an error code.
func classify(err error) (int, string) {
	var tooBig *http.MaxBytesError
	var taken *memflow.IDTakenError
	switch {
	case errors.As(err, &tooBig), errors.Is(err, store.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, "too_large"
	case errors.As(err, &taken), errors.Is(err, memflow.ErrIDTaken):
		return http.StatusConflict, "id_taken"
	case errors.Is(err, memflow.ErrNotFound):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, errBadInput), errors.Is(err, memflow.ErrInvalidInput), errors.Is(err, store.ErrPath),
		errors.Is(err, store.ErrCommand), errors.Is(err, store.ErrQuery):
		return http.StatusBadRequest, "bad_request"
	case errors.Is(err, memflow.ErrEnded), errors.Is(err, memflow.ErrRetired), errors.Is(err, memflow.ErrNoTimeTravel):
		return http.StatusConflict, "conflict" // the instance or flow is not in a state that allows it
	case store.IsTransient(err):
		return http.StatusServiceUnavailable, "unavailable"
	}
	return http.StatusInternalServerError, "internal"
}

var errBadInput = errors.New("bad input")

// inputError is a mistake in the request, named in its message.
type inputError struct{ msg string }

func (e *inputError) Error() string        { return e.msg }
func (e *inputError) Is(target error) bool { return target == errBadInput }

func badInput(format string, args ...any) error {
	return &inputError{fmt.Sprintf(format, args...)}
}
