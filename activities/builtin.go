package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/propagation"
)

// MaxHTTPResponse is the default bound on the body http.request reads
// (HTTPPolicy.MaxBody changes it).
const MaxHTTPResponse = 1 << 20

type loggerKey struct{}

// WithLogger returns ctx carrying the logger the `log` activity writes to.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// LogArgs are the arguments of the `log` activity.
type LogArgs struct {
	Message string         `json:"message"`
	Level   string         `json:"level,omitempty"` // debug, info (default), warn, error
	Fields  map[string]any `json:"fields,omitempty"`
}

func logActivity(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
	var a LogArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		// A bare string or other value is logged as is.
		a.Message = string(raw)
	}
	l, _ := ctx.Value(loggerKey{}).(*slog.Logger)
	if l == nil {
		return json.RawMessage("null"), nil
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(a.Level)); a.Level == "" || err != nil {
		lvl = slog.LevelInfo
	}
	attrs := []any{}
	if info, ok := InfoFrom(ctx); ok {
		attrs = append(attrs, "workflow", info.WorkflowID, "step", info.StepID)
	}
	for k, v := range a.Fields {
		attrs = append(attrs, k, v)
	}
	l.Log(ctx, lvl, a.Message, attrs...)
	return json.RawMessage("null"), nil
}

// HTTPArgs are the arguments of `http.request`.
type HTTPArgs struct {
	Method  string            `json:"method"` // default GET
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	// Query is added to the URL's query string, URL-encoded: each value a
	// string, number or boolean, or a list of them (the name repeats).
	Query map[string]any `json:"query,omitempty"`
	// Body is sent as is when a string, else as JSON.
	Body    any    `json:"body,omitempty"`
	Timeout string `json:"timeout,omitempty"` // Go duration; default 30s
	// AcceptStatus makes error statuses results: true accepts every
	// status, a list accepts those listed ([404, 409]). By default a status
	// of 400 or more fails the step with an *HTTPError.
	AcceptStatus json.RawMessage `json:"acceptStatus,omitempty"`
}

// MaxHTTPErrorBody bounds the part of an error response's body an
// *HTTPError keeps (and its message shows), in bytes.
const MaxHTTPErrorBody = 1024

// HTTPError is http.request's error for a response status of 400 or more
// (unless acceptStatus takes it). Its flow error type is "HTTPError"; 429
// and 5xx are retried (a Retry-After in seconds is honoured), other 4xx
// fail the step at once. Body is the response body, cut to
// MaxHTTPErrorBody bytes.
type HTTPError struct {
	Method string
	URL    string
	Status int
	Body   string
}

func (e *HTTPError) Error() string { return e.typed().Error() }

// Unwrap gives the typed *Error a flow's catch and retry policy match.
func (e *HTTPError) Unwrap() error { return e.typed() }

func (e *HTTPError) typed() *Error {
	msg := fmt.Sprintf("http.request %s %s: status %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return &Error{Type: "HTTPError", Message: msg}
}

// acceptsStatus reports whether the acceptStatus argument raw takes status
// as a result.
func acceptsStatus(raw json.RawMessage, status int) (bool, error) {
	if len(raw) == 0 || string(raw) == "null" || string(raw) == "false" {
		return false, nil
	}
	if string(raw) == "true" {
		return true, nil
	}
	var list []int
	if err := json.Unmarshal(raw, &list); err != nil {
		return false, fmt.Errorf("acceptStatus must be true or a list of status codes, got %s", raw)
	}
	for _, s := range list {
		if s == status {
			return true, nil
		}
	}
	return false, nil
}

// cutBody is an error response's body for messages: at most
// MaxHTTPErrorBody bytes, cut at a character boundary, on one line.
func cutBody(data []byte) string {
	s := strings.ToValidUTF8(string(data), "\uFFFD")
	if len(s) > MaxHTTPErrorBody {
		cut := MaxHTTPErrorBody
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return strings.Join(strings.Fields(s), " ")
}

// HTTPResult is the result of `http.request`. Body is decoded JSON when the
// response says application/json, else the text.
type HTTPResult struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    any               `json:"body"`
}

func httpActivity(g *httpGuard) Func {
	client := g.client()
	return func(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
		var a HTTPArgs
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, NonRetryable(&Error{Type: "InvalidArguments", Message: fmt.Sprintf("http.request: %v", err)})
		}
		if a.Method == "" {
			a.Method = http.MethodGet
		}
		if !strings.HasPrefix(a.URL, "http://") && !strings.HasPrefix(a.URL, "https://") {
			return nil, NonRetryable(&Error{Type: "InvalidArguments", Message: fmt.Sprintf("http.request: url %q must start with http:// or https://", a.URL)})
		}
		if i := strings.IndexFunc(a.URL, func(r rune) bool { return r <= ' ' || r == 0x7f }); i >= 0 {
			return nil, NonRetryable(&Error{Type: "InvalidArguments", Message: fmt.Sprintf(
				"http.request: url %q has a space or control character at byte %d: escape values with urlquery() or pass them in query:", a.URL, i)})
		}
		if len(a.Query) > 0 {
			q, err := encodeQuery(a.Query)
			if err != nil {
				return nil, NonRetryable(&Error{Type: "InvalidArguments", Message: "http.request: " + err.Error()})
			}
			a.URL = addQuery(a.URL, q)
		}
		timeout := 30 * time.Second
		if a.Timeout != "" {
			d, err := time.ParseDuration(a.Timeout)
			if err != nil || d <= 0 {
				return nil, NonRetryable(&Error{Type: "InvalidArguments", Message: fmt.Sprintf("http.request: timeout %q is not a positive duration", a.Timeout)})
			}
			timeout = d
		}
		if _, err := acceptsStatus(a.AcceptStatus, 0); err != nil {
			return nil, NonRetryable(&Error{Type: "InvalidArguments", Message: "http.request: " + err.Error()})
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		var body io.Reader
		switch b := a.Body.(type) {
		case nil:
		case string:
			body = strings.NewReader(b)
		default:
			enc, err := json.Marshal(b)
			if err != nil {
				return nil, NonRetryable(fmt.Errorf("http.request: encode body: %w", err))
			}
			body = bytes.NewReader(enc)
			if a.Headers["Content-Type"] == "" {
				if a.Headers == nil {
					a.Headers = map[string]string{}
				}
				a.Headers["Content-Type"] = "application/json"
			}
		}
		req, err := http.NewRequestWithContext(ctx, strings.ToUpper(a.Method), a.URL, body)
		if err != nil {
			return nil, NonRetryable(&Error{Type: "InvalidArguments", Message: fmt.Sprintf("http.request: %v", err)})
		}
		for k, v := range a.Headers {
			req.Header.Set(k, v)
		}
		if req.Header.Get("traceparent") == "" {
			// The attempt's span (the runtime puts it in ctx) continues in
			// the called service; a traceparent given in headers wins.
			propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(req.Header))
		}
		if err := g.checkURL(req.URL); err != nil {
			return nil, forbidden(req, err)
		}
		resp, err := client.Do(req)
		if err != nil {
			var f *HTTPForbiddenError
			if errors.As(err, &f) {
				return nil, forbidden(req, f)
			}
			return nil, fmt.Errorf("http.request %s %s: %w", req.Method, a.URL, err)
		}
		defer resp.Body.Close()
		tooLarge := func() error {
			return NonRetryable(&Error{Type: "ResponseTooLarge", Message: fmt.Sprintf(
				"http.request %s %s: response body exceeds %d bytes (the worker's http max body)", req.Method, a.URL, g.maxBody)})
		}
		if resp.ContentLength > g.maxBody {
			return nil, tooLarge()
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, g.maxBody+1))
		if err != nil {
			return nil, fmt.Errorf("http.request %s %s: read body: %w", req.Method, a.URL, err)
		}
		if int64(len(data)) > g.maxBody {
			return nil, tooLarge()
		}
		if accepted, _ := acceptsStatus(a.AcceptStatus, resp.StatusCode); resp.StatusCode >= 400 && !accepted {
			err := &HTTPError{Method: req.Method, URL: req.URL.Redacted(), Status: resp.StatusCode, Body: cutBody(data)}
			if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500 {
				return nil, NonRetryable(err)
			}
			if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s > 0 {
				return nil, RetryAfter(time.Duration(s)*time.Second, err)
			}
			return nil, err
		}
		res := HTTPResult{Status: resp.StatusCode, Headers: map[string]string{}}
		for k := range resp.Header {
			res.Headers[k] = resp.Header.Get(k)
		}
		res.Body = string(data)
		if strings.Contains(resp.Header.Get("Content-Type"), "json") {
			var v any
			if json.Unmarshal(data, &v) == nil {
				res.Body = v
			}
		}
		return json.Marshal(res)
	}
}

// encodeQuery URL-encodes a query: map (names sorted; a list repeats
// its name).
func encodeQuery(m map[string]any) (string, error) {
	vals := url.Values{}
	text := func(name string, v any) (string, error) {
		switch x := v.(type) {
		case string:
			return x, nil
		case bool:
			return strconv.FormatBool(x), nil
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64), nil
		case json.Number:
			return x.String(), nil
		}
		return "", fmt.Errorf("query %q: want a string, number or boolean, or a list of them, not %T", name, v)
	}
	for k, v := range m {
		list, ok := v.([]any)
		if !ok {
			list = []any{v}
		}
		for _, e := range list {
			s, err := text(k, e)
			if err != nil {
				return "", err
			}
			vals.Add(k, s)
		}
	}
	return vals.Encode(), nil
}

// addQuery appends an encoded query to u, before any fragment.
func addQuery(u, q string) string {
	frag := ""
	if i := strings.IndexByte(u, '#'); i >= 0 {
		u, frag = u[:i], u[i:]
	}
	switch {
	case !strings.Contains(u, "?"):
		u += "?" + q
	case strings.HasSuffix(u, "?") || strings.HasSuffix(u, "&"):
		u += q
	default:
		u += "&" + q
	}
	return u + frag
}

// forbidden reports a refused host as a non-retryable HTTPForbidden error.
func forbidden(req *http.Request, err error) error {
	return NonRetryable(&Error{Type: "HTTPForbidden", Message: fmt.Sprintf("http.request %s %s: %v", req.Method, req.URL.Redacted(), err)})
}
