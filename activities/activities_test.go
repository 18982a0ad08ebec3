package activities_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/memflow/memflow/activities"
)

type in struct {
	N int `json:"n"`
}

func call(t *testing.T, r *activities.Registry, name, args string) (string, error) {
	t.Helper()
	fn, ok := r.Lookup(name)
	if !ok {
		t.Fatalf("%s not registered", name)
	}
	out, err := fn(context.Background(), json.RawMessage(args))
	return string(out), err
}

func TestRegisterShapes(t *testing.T) {
	r := activities.NewRegistry()
	ok := map[string]any{
		"both":   func(ctx context.Context, a in) (int, error) { return a.N * 2, nil },
		"noOut":  func(ctx context.Context, a in) error { return nil },
		"noIn":   func(ctx context.Context) (string, error) { return "hi", nil },
		"raw":    func(ctx context.Context, a json.RawMessage) (json.RawMessage, error) { return a, nil },
		"failer": func(ctx context.Context, a in) (int, error) { return 0, errors.New("nope") },
	}
	for name, fn := range ok {
		if err := r.Register(name, fn); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	for _, tc := range []struct{ name, args, want string }{
		{"both", `{"n":21}`, "42"}, {"noOut", `{"n":1}`, "null"}, {"noIn", `null`, `"hi"`}, {"raw", `[1]`, "[1]"},
	} {
		got, err := call(t, r, tc.name, tc.args)
		if err != nil || got != tc.want {
			t.Errorf("%s(%s) = %s, %v; want %s", tc.name, tc.args, got, err, tc.want)
		}
	}
	if _, err := call(t, r, "failer", `{}`); err == nil || err.Error() != "nope" {
		t.Errorf("failer: %v", err)
	}
	_, err := call(t, r, "both", `{"n":"x"}`)
	if !activities.IsNonRetryable(err) || activities.ErrorType(err) != "InvalidArguments" {
		t.Errorf("bad arguments: %v", err)
	}
	if !r.Has("log") || !r.Has("http.request") || !r.Has("both") || r.Has("missing") {
		t.Errorf("Has: %v", r.Names())
	}

	for name, fn := range map[string]any{
		"": func(ctx context.Context) error { return nil }, "bad name!": func(ctx context.Context) error { return nil },
		"notfunc": 3, "noctx": func(a in) error { return nil }, "noerr": func(ctx context.Context) int { return 1 },
		"both": func(ctx context.Context) error { return nil },
	} {
		if err := r.Register(name, fn); err == nil {
			t.Errorf("Register(%q, %T) accepted", name, fn)
		}
	}
}

func TestErrors(t *testing.T) {
	base := &activities.Error{Type: "RateLimited", Message: "slow down"}
	err := activities.RetryAfter(3*time.Second, base)
	if d, ok := activities.RetryDelay(err); !ok || d != 3*time.Second {
		t.Errorf("RetryDelay = %v %v", d, ok)
	}
	if activities.ErrorType(err) != "RateLimited" || activities.IsNonRetryable(err) {
		t.Errorf("type %q", activities.ErrorType(err))
	}
	nr := activities.NonRetryable(base)
	if !activities.IsNonRetryable(nr) || !errors.Is(nr, base) || activities.NonRetryable(nil) != nil {
		t.Error("NonRetryable does not wrap")
	}
	ctx := activities.WithInfo(context.Background(), activities.Info{WorkflowID: "w", Attempt: 2})
	if info, ok := activities.InfoFrom(ctx); !ok || info.Attempt != 2 {
		t.Errorf("InfoFrom = %+v", info)
	}
	if _, ok := activities.InfoFrom(context.Background()); ok {
		t.Error("InfoFrom outside an activity")
	}
}

func TestHTTPRequest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/json":
			w.Header().Set("Content-Type", "application/json")
			var body map[string]any
			_ = json.NewDecoder(r.Body).Decode(&body)
			_ = json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "got": body, "h": r.Header.Get("X-Test")})
		case "/busy":
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
		case "/big":
			_, _ = w.Write([]byte(strings.Repeat("x", activities.MaxHTTPResponse+1)))
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte("no such page"))
		}
	}))
	defer srv.Close()
	r := activities.NewRegistry()
	out, err := call(t, r, "http.request", `{"method":"post","url":"`+srv.URL+`/json","headers":{"X-Test":"1"},"body":{"a":1}}`)
	if err != nil || !strings.Contains(out, `"body":{"got":{"a":1},"h":"1","method":"POST"}`) || !strings.Contains(out, `"status":200`) {
		t.Errorf("json: %s %v", out, err)
	}
	// acceptStatus makes an error status a result.
	out, err = call(t, r, "http.request", `{"url":"`+srv.URL+`/missing","acceptStatus":true}`)
	if err != nil || !strings.Contains(out, `"status":404`) || !strings.Contains(out, `"body":"no such page"`) {
		t.Errorf("404 accepted: %s %v", out, err)
	}
	_, err = call(t, r, "http.request", `{"url":"`+srv.URL+`/busy"}`)
	if d, ok := activities.RetryDelay(err); !ok || d != 2*time.Second || activities.ErrorType(err) != "HTTPError" {
		t.Errorf("429: %v", err)
	}
	_, err = call(t, r, "http.request", `{"url":"`+srv.URL+`/big"}`)
	if activities.ErrorType(err) != "ResponseTooLarge" || !activities.IsNonRetryable(err) {
		t.Errorf("big: %v", err)
	}
	for _, bad := range []string{`{"url":"file:///etc/passwd"}`, `{"url":"http://x","timeout":"soon"}`, `[]`} {
		if _, err := call(t, r, "http.request", bad); !activities.IsNonRetryable(err) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func TestLog(t *testing.T) {
	r := activities.NewRegistry()
	fn, _ := r.Lookup("log")
	var buf bytes.Buffer
	ctx := activities.WithLogger(context.Background(), slog.New(slog.NewTextHandler(&buf, nil)))
	ctx = activities.WithInfo(ctx, activities.Info{WorkflowID: "w1", StepID: "s"})
	out, err := fn(ctx, json.RawMessage(`{"message":"hi","level":"warn","fields":{"a":1}}`))
	if err != nil || string(out) != "null" {
		t.Errorf("log: %s %v", out, err)
	}
	if got := buf.String(); !strings.Contains(got, "level=WARN msg=hi workflow=w1 step=s a=1") {
		t.Errorf("logged %q", got)
	}
}

// A status of 400 or more fails the step with an HTTPError carrying the
// status and the (bounded) body: 429 and 5xx are retried, other 4xx not.
// acceptStatus takes every status (true) or those listed as results.
func TestHTTPErrorStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		w.WriteHeader(code)
		if r.URL.Query().Get("long") != "" {
			_, _ = w.Write([]byte(strings.Repeat("é", activities.MaxHTTPErrorBody)))
			return
		}
		_, _ = w.Write([]byte("why\n" + http.StatusText(code)))
	}))
	defer srv.Close()
	r := activities.NewRegistry()
	for _, tc := range []struct {
		status    int
		retryable bool
	}{{400, false}, {401, false}, {404, false}, {409, false}, {422, false}, {429, true}, {500, true}, {502, true}, {503, true}} {
		u := fmt.Sprintf("%s/%d", srv.URL, tc.status)
		out, err := call(t, r, "http.request", `{"url":"`+u+`"}`)
		var he *activities.HTTPError
		if !errors.As(err, &he) || he.Status != tc.status || he.Body != "why "+http.StatusText(tc.status) {
			t.Errorf("%d: out %s, err %v, want an HTTPError", tc.status, out, err)
			continue
		}
		want := fmt.Sprintf("HTTPError: http.request GET %s: status %d %s: why %s", u, tc.status, http.StatusText(tc.status), http.StatusText(tc.status))
		if err.Error() != want || activities.ErrorType(err) != "HTTPError" || activities.IsNonRetryable(err) == tc.retryable {
			t.Errorf("%d: %q (type %q, non-retryable %v), want %q", tc.status, err, activities.ErrorType(err), activities.IsNonRetryable(err), want)
		}
	}
	// Below 400 is a result.
	if out, err := call(t, r, "http.request", `{"url":"`+srv.URL+`/204"}`); err != nil || !strings.Contains(out, `"status":204`) {
		t.Errorf("204: %s %v", out, err)
	}
	// A listed status is a result; an unlisted one still fails.
	if out, err := call(t, r, "http.request", `{"url":"`+srv.URL+`/404","acceptStatus":[404,409]}`); err != nil || !strings.Contains(out, `"status":404`) {
		t.Errorf("404 listed: %s %v", out, err)
	}
	if _, err := call(t, r, "http.request", `{"url":"`+srv.URL+`/500","acceptStatus":[404]}`); activities.ErrorType(err) != "HTTPError" {
		t.Errorf("500 not listed: %v", err)
	}
	if out, err := call(t, r, "http.request", `{"url":"`+srv.URL+`/503","acceptStatus":true}`); err != nil || !strings.Contains(out, `"status":503`) {
		t.Errorf("503 accepted: %s %v", out, err)
	}
	_, err := call(t, r, "http.request", `{"url":"`+srv.URL+`/404","acceptStatus":"yes"}`)
	if activities.ErrorType(err) != "InvalidArguments" || !activities.IsNonRetryable(err) || !strings.Contains(err.Error(), `acceptStatus must be true or a list of status codes, got "yes"`) {
		t.Errorf("bad acceptStatus: %v", err)
	}
	// The body an error keeps is bounded, cut at a character boundary.
	_, err = call(t, r, "http.request", `{"url":"`+srv.URL+`/500?long=1"}`)
	var he *activities.HTTPError
	if !errors.As(err, &he) || len(he.Body) > activities.MaxHTTPErrorBody+len("…") || !utf8.ValidString(he.Body) || !strings.HasSuffix(he.Body, "é…") {
		t.Errorf("long body: %d bytes, valid %v", len(he.Body), utf8.ValidString(he.Body))
	}
}

// query: is URL-encoded onto the URL (after a query it already has, before
// a fragment); a URL with a raw space fails with InvalidArguments instead
// of reaching the server.
func TestHTTPRequestQuery(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.RawQuery)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	r := activities.NewRegistry()
	if _, err := call(t, r, "http.request", `{"url":"`+srv.URL+`/s?x=1","query":{"q":"a b&c=d/é","n":2,"ok":true,"tag":["x","y z"]}}`); err != nil {
		t.Fatal(err)
	}
	if want := "x=1&n=2&ok=true&q=a+b%26c%3Dd%2F%C3%A9&tag=x&tag=y+z"; len(got) != 1 || got[0] != want {
		t.Errorf("query sent %q, want %q", got, want)
	}
	for _, bad := range []string{`{"url":"` + srv.URL + `/s?q=a b"}`, `{"url":"` + srv.URL + `/a\tb"}`} {
		_, err := call(t, r, "http.request", bad)
		if activities.ErrorType(err) != "InvalidArguments" || !activities.IsNonRetryable(err) || !strings.Contains(err.Error(), "space or control character") {
			t.Errorf("%s: %v, want InvalidArguments", bad, err)
		}
	}
	if _, err := call(t, r, "http.request", `{"url":"`+srv.URL+`","query":{"o":{"a":1}}}`); activities.ErrorType(err) != "InvalidArguments" {
		t.Errorf("object query value: %v", err)
	}
	if len(got) != 1 {
		t.Errorf("bad requests reached the server: %q", got)
	}
}
