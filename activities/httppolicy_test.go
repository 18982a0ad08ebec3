package activities_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/memflow/memflow/activities"
)

// counted is a loopback server that counts the requests it answers.
func counted(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func hostPort(srv *httptest.Server) string { return strings.TrimPrefix(srv.URL, "http://") }

func registry(t *testing.T, p activities.HTTPPolicy) *activities.Registry {
	t.Helper()
	r, err := activities.NewRegistryWithHTTP(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestHTTPAllowList(t *testing.T) {
	srv, hits := counted(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("hello")) })
	port := hostPort(srv)[strings.LastIndex(hostPort(srv), ":")+1:]

	// No list: loopback is reached (zero-setup demos keep working).
	out, err := call(t, activities.NewRegistry(), "http.request", `{"url":"`+srv.URL+`/"}`)
	if err != nil || !strings.Contains(out, `"body":"hello"`) {
		t.Fatalf("default policy, loopback: %s %v", out, err)
	}
	// Listed by address and port, by name and port, by name, by range.
	for _, allow := range []string{hostPort(srv), "localhost:" + port, "localhost", "127.0.0.0/8"} {
		u := srv.URL
		if strings.HasPrefix(allow, "localhost") {
			u = "http://localhost:" + port
		}
		out, err := call(t, registry(t, activities.HTTPPolicy{Allow: []string{allow}}), "http.request", `{"url":"`+u+`/"}`)
		if err != nil || !strings.Contains(out, `"body":"hello"`) {
			t.Errorf("allow %q, %s: %s %v", allow, u, out, err)
		}
	}
	before := hits.Load()
	// A list that does not name the server refuses it, before any request.
	for _, allow := range [][]string{{"example.com"}, {"localhost:1"}, {"127.0.0.1:1"}, {"10.0.0.0/8"}, {"*.localhost"}} {
		_, err := call(t, registry(t, activities.HTTPPolicy{Allow: allow}), "http.request", `{"url":"`+srv.URL+`/"}`)
		if activities.ErrorType(err) != "HTTPForbidden" || !activities.IsNonRetryable(err) ||
			!strings.Contains(err.Error(), `host "127.0.0.1"`) || !strings.Contains(err.Error(), "allow-list") {
			t.Errorf("allow %q: got %v, want HTTPForbidden naming the host and the allow-list", allow, err)
		}
	}
	if n := hits.Load(); n != before {
		t.Errorf("refused requests reached the server %d times", n-before)
	}
}

func TestHTTPRedirectChecked(t *testing.T) {
	blocked, blockedHits := counted(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("secret")) })
	allowed, _ := counted(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-blocked":
			http.Redirect(w, r, blocked.URL+"/admin", http.StatusFound)
		case "/to-self":
			http.Redirect(w, r, "/done", http.StatusFound)
		default:
			_, _ = w.Write([]byte("done"))
		}
	})
	r := registry(t, activities.HTTPPolicy{Allow: []string{hostPort(allowed)}})
	if out, err := call(t, r, "http.request", `{"url":"`+allowed.URL+`/to-self"}`); err != nil || !strings.Contains(out, `"body":"done"`) {
		t.Errorf("redirect within the allow-list: %s %v", out, err)
	}
	for _, path := range []string{"/to-blocked"} { // a redirect to metadata: TestHTTPMetadataNeverDialled
		_, err := call(t, r, "http.request", `{"url":"`+allowed.URL+path+`"}`)
		if activities.ErrorType(err) != "HTTPForbidden" || !activities.IsNonRetryable(err) ||
			!strings.Contains(err.Error(), "redirect from "+allowed.URL+path+" refused") {
			t.Errorf("%s: got %v, want a refused redirect", path, err)
		}
	}
	if n := blockedHits.Load(); n != 0 {
		t.Errorf("the refused redirect target was reached %d times", n)
	}
}

func TestHTTPMaxBody(t *testing.T) {
	srv, _ := counted(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" { // no Content-Length: the read itself is bounded
			w.(http.Flusher).Flush()
		}
		_, _ = w.Write([]byte(strings.Repeat("x", 100)))
	})
	small := registry(t, activities.HTTPPolicy{MaxBody: 99})
	for _, path := range []string{"/", "/chunked"} {
		_, err := call(t, small, "http.request", `{"url":"`+srv.URL+path+`"}`)
		if activities.ErrorType(err) != "ResponseTooLarge" || !activities.IsNonRetryable(err) || !strings.Contains(err.Error(), "exceeds 99 bytes") {
			t.Errorf("%s over the cap: %v", path, err)
		}
	}
	exact := registry(t, activities.HTTPPolicy{MaxBody: 100})
	for _, path := range []string{"/", "/chunked"} {
		if out, err := call(t, exact, "http.request", `{"url":"`+srv.URL+path+`"}`); err != nil || !strings.Contains(out, strings.Repeat("x", 100)) {
			t.Errorf("%s at the cap: %v", path, err)
		}
	}
	if _, err := activities.NewRegistryWithHTTP(activities.HTTPPolicy{Allow: []string{"http://x.com"}}); err == nil ||
		!strings.Contains(err.Error(), `http allow-list entry "http://x.com"`) {
		t.Errorf("bad entry: %v", err)
	}
}
