package activities_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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
	out, err = call(t, r, "http.request", `{"url":"`+srv.URL+`/missing"}`)
	if err != nil || !strings.Contains(out, `"status":404`) || !strings.Contains(out, `"body":"no such page"`) {
		t.Errorf("404: %s %v", out, err)
	}
	_, err = call(t, r, "http.request", `{"url":"`+srv.URL+`/busy"}`)
	if d, ok := activities.RetryDelay(err); !ok || d != 2*time.Second || activities.ErrorType(err) != "HTTPStatus" {
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
