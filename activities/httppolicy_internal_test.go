package activities

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
)

func guard(t *testing.T, allow ...string) *httpGuard {
	t.Helper()
	g, err := newHTTPGuard(HTTPPolicy{Allow: allow})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestHTTPCheckAddr pins which resolved addresses each policy dials.
func TestHTTPCheckAddr(t *testing.T) {
	def := guard(t)
	listed := guard(t, "api.example.com", "*.svc.internal", "10.0.0.0/8", "192.168.1.5:8080")
	explicit := guard(t, "169.254.169.254/32", "fd00:ec2::254/128")
	wide := guard(t, "0.0.0.0/0", "::/0")
	for _, tc := range []struct {
		g          *httpGuard
		host, port string
		ip         string
		ok         bool
		why        string // part of the refusal
	}{
		// The default refuses metadata and link-local addresses, whatever the name.
		{def, "169.254.169.254", "80", "169.254.169.254", false, "cloud metadata"},
		{def, "metadata.google.internal", "80", "169.254.169.254", false, "169.254.0.0/16"},
		{def, "x", "80", "169.254.170.2", false, "link-local"},
		{def, "x", "80", "fd00:ec2::254", false, "fd00:ec2::254/128"},
		{def, "x", "80", "fd20:ce::254", false, "cloud metadata"},
		{def, "x", "80", "100.100.100.200", false, "cloud metadata"},
		{def, "x", "80", "168.63.129.16", false, "cloud metadata"},
		{def, "x", "80", "fe80::1", false, "link-local"},
		{def, "x", "80", "::ffff:169.254.169.254", false, "cloud metadata"},
		{def, "x", "80", "64:ff9b::a9fe:a9fe", false, "cloud metadata"}, // NAT64 form of 169.254.169.254
		// The default reaches public addresses and loopback only.
		{def, "example.com", "443", "93.184.216.34", true, ""},
		{def, "example.com", "443", "2606:2800:220:1::1", true, ""},
		{def, "localhost", "8080", "127.0.0.1", true, ""},
		{def, "localhost", "8080", "::1", true, ""},
		{def, "x", "80", "10.1.2.3", false, "private or reserved"},
		{def, "x", "80", "172.16.0.1", false, "private or reserved"},
		{def, "x", "80", "192.168.0.1", false, "private or reserved"},
		{def, "x", "80", "100.64.0.1", false, "private or reserved"},
		{def, "x", "80", "fd12::1", false, "private or reserved"},
		{def, "x", "80", "0.0.0.0", false, "private or reserved"},
		{def, "x", "80", "::", false, "private or reserved"},
		{def, "x", "80", "64:ff9b::a00:1", false, "private or reserved"}, // NAT64 form of 10.0.0.1
		// A list reaches only what it names.
		{listed, "api.example.com", "443", "93.184.216.34", true, ""},
		{listed, "api.example.com", "443", "10.9.9.9", true, ""},
		{listed, "a.b.svc.internal", "80", "172.20.0.3", true, ""},
		{listed, "svc.internal", "80", "172.20.0.3", false, "allow-list"},
		{listed, "other.com", "443", "93.184.216.34", false, "allow-list"},
		{listed, "other.com", "443", "10.4.5.6", true, ""},
		{listed, "localhost", "80", "127.0.0.1", false, "allow-list"},
		{listed, "192.168.1.5", "8080", "192.168.1.5", true, ""},
		{listed, "192.168.1.5", "80", "192.168.1.5", false, "allow-list"},
		// A listed name never reaches a metadata address (DNS rebinding included).
		{listed, "api.example.com", "80", "169.254.169.254", false, "cloud metadata"},
		// Only a CIDR entry inside the blocked range opens it; 0.0.0.0/0 does not.
		{explicit, "169.254.169.254", "80", "169.254.169.254", true, ""},
		{explicit, "x", "80", "169.254.169.253", false, "cloud metadata"},
		{explicit, "x", "80", "fd00:ec2::254", true, ""},
		{wide, "x", "80", "169.254.169.254", false, "cloud metadata"},
		{wide, "x", "80", "10.1.2.3", true, ""},
	} {
		err := tc.g.checkAddr(tc.host, tc.port, netip.MustParseAddr(tc.ip))
		var f *HTTPForbiddenError
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s:%s at %s (allow %q): refused: %v", tc.host, tc.port, tc.ip, tc.g.listed, err)
		case !tc.ok && (!errors.As(err, &f) || !strings.Contains(err.Error(), tc.why) || f.Host != tc.host):
			t.Errorf("%s:%s at %s (allow %q): got %v, want a refusal naming %q", tc.host, tc.port, tc.ip, tc.g.listed, err, tc.why)
		}
	}
}

func TestHTTPAllowEntries(t *testing.T) {
	for _, ok := range []string{"example.com", "Example.COM.", "example.com:8443", "*.example.com", "10.0.0.0/8",
		"10.1.2.3", "10.1.2.3:80", "[::1]:8080", "::1", "fd00::/8", " host_1.lan "} {
		if _, err := parseAllowEntry(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for bad, why := range map[string]string{
		"": "empty", "*": "0.0.0.0/0", "10.0.0.0/33": "CIDR", "example.com:0": "port", "example.com:http": "port",
		"exa mple.com": "host name", "a.*.com": "host name", "http://example.com": "URL", "-a.com": "host name",
	} {
		if _, err := parseAllowEntry(bad); err == nil || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "entry") {
			t.Errorf("%q: got %v, want an error naming %q", bad, err, why)
		}
	}
	if _, err := newHTTPGuard(HTTPPolicy{Allow: []string{"ok.com", "bad one", "10.0.0.0/99"}}); err == nil ||
		!strings.Contains(err.Error(), `"bad one"`) || !strings.Contains(err.Error(), `"10.0.0.0/99"`) {
		t.Errorf("every bad entry is named: %v", err)
	}
	if _, err := newHTTPGuard(HTTPPolicy{MaxBody: -1}); err == nil {
		t.Error("negative max body accepted")
	}
}

// fakeNet resolves names from a table and records every dial instead of
// connecting anywhere but loopback.
type fakeNet struct {
	mu     sync.Mutex
	hosts  map[string][]string
	dialed []string
}

func (n *fakeNet) install(g *httpGuard) {
	g.lookup = func(_ context.Context, host string) ([]netip.Addr, error) {
		var out []netip.Addr
		for _, s := range n.hosts[host] {
			out = append(out, netip.MustParseAddr(s))
		}
		if out == nil {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		return out, nil
	}
	real := g.dial
	g.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.mu.Lock()
		n.dialed = append(n.dialed, addr)
		n.mu.Unlock()
		if h, _, _ := net.SplitHostPort(addr); h != "127.0.0.1" {
			return nil, errors.New("test network: only loopback is dialled")
		}
		return real(ctx, network, addr)
	}
}

func (n *fakeNet) dials() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.dialed...)
}

func callHTTP(g *httpGuard, args map[string]any) (map[string]any, error) {
	raw, _ := json.Marshal(args)
	out, err := httpActivity(g)(context.Background(), raw)
	if err != nil {
		return nil, err
	}
	var res map[string]any
	return res, json.Unmarshal(out, &res)
}

// TestHTTPMetadataNeverDialled runs the activity against metadata addresses
// and names (resolved by a fake resolver) and checks nothing is dialled.
func TestHTTPMetadataNeverDialled(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if to := r.URL.Query().Get("to"); to != "" {
			http.Redirect(w, r, to, http.StatusFound)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	redirect := "http://ok.example:" + port + "/?to="
	net := &fakeNet{hosts: map[string][]string{
		"rebind.example":           {"169.254.169.254"},
		"metadata.google.internal": {"169.254.169.254"},
		"ok.example":               {"127.0.0.1"},
	}}
	for _, allow := range [][]string{nil, {"rebind.example", "ok.example", "0.0.0.0/0"}} {
		g := guard(t, allow...)
		g.proxy = func(*http.Request) (*url.URL, error) { return nil, nil }
		net.install(g)
		for _, u := range []string{"http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/", "http://[::ffff:a9fe:a9fe]/",
			"http://metadata.google.internal/computeMetadata/v1/", "http://rebind.example:" + port + "/",
			redirect + url.QueryEscape("http://169.254.169.254/latest/meta-data/"),
			redirect + url.QueryEscape("http://rebind.example:"+port+"/"),
			redirect + url.QueryEscape("http://metadata.google.internal/")} {
			_, err := callHTTP(g, map[string]any{"url": u})
			if ErrorType(err) != "HTTPForbidden" || !IsNonRetryable(err) {
				t.Errorf("allow %q, %s: got %v, want a non-retryable HTTPForbidden", allow, u, err)
			}
		}
		for _, d := range net.dials() {
			if d != "127.0.0.1:"+port {
				t.Fatalf("allow %q: dialled %v", allow, d)
			}
		}
		// The same worker still reaches an allowed name.
		if res, err := callHTTP(g, map[string]any{"url": "http://ok.example:" + port + "/"}); err != nil || res["body"] != "ok" {
			t.Errorf("allow %q: ok.example: %v %v", allow, res, err)
		}
		net.dialed = nil
	}
}

// TestHTTPThroughProxy: with a proxy from the environment the target is
// resolved and checked before the request goes to the proxy, which is
// dialled itself although the allow-list does not name it.
func TestHTTPThroughProxy(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.String())
		mu.Unlock()
		_, _ = w.Write([]byte("via proxy"))
	}))
	defer proxy.Close()
	pu, _ := url.Parse(proxy.URL)
	net := &fakeNet{hosts: map[string][]string{"api.example.com": {"93.184.216.34"}, "internal.example.com": {"10.0.0.7"},
		"sneaky.example.com": {"93.184.216.35", "169.254.169.254"}}}
	for _, allow := range [][]string{nil, {"*.example.com"}} {
		g := guard(t, allow...)
		g.proxy = func(*http.Request) (*url.URL, error) { return pu, nil }
		net.install(g)
		res, err := callHTTP(g, map[string]any{"url": "http://api.example.com/v1"})
		if err != nil || res["body"] != "via proxy" {
			t.Fatalf("allow %q: through the proxy: %v %v", allow, res, err)
		}
		for _, u := range []string{"http://sneaky.example.com/", "http://169.254.169.254/", "http://metadata.google.internal/"} {
			if _, err := callHTTP(g, map[string]any{"url": u}); ErrorType(err) != "HTTPForbidden" {
				t.Errorf("allow %q, %s through the proxy: %v", allow, u, err)
			}
		}
		_, err = callHTTP(g, map[string]any{"url": "http://internal.example.com/"})
		if allowed := allow != nil; allowed != (err == nil) {
			t.Errorf("allow %q, internal.example.com (10.0.0.7) through the proxy: %v", allow, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"http://api.example.com/v1", "http://api.example.com/v1", "http://internal.example.com/"}
	if strings.Join(seen, " ") != strings.Join(want, " ") {
		t.Errorf("the proxy saw %v, want %v", seen, want)
	}
}
