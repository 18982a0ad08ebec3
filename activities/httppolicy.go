package activities

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// HTTPPolicy decides which hosts `http.request` may reach and how much of a
// response it reads. The zero value is the default policy.
type HTTPPolicy struct {
	// Allow lists what http.request may reach. Each entry is one of
	//
	//	api.example.com        a host name, any port
	//	api.example.com:8443   a host name on one port
	//	*.example.com          any subdomain of example.com (not example.com itself)
	//	10.1.2.3, [::1]:8080   an address, optionally on one port
	//	10.0.0.0/8, fd00::/8   an address range (CIDR), any port
	//
	// Empty: any public address and loopback; private, shared and reserved
	// ranges are refused. Not empty: only what the list names. Either way,
	// link-local and cloud metadata addresses (BlockedHTTPRanges) are
	// refused unless a CIDR entry inside the blocked range names them, such
	// as 169.254.169.254/32; a wider range (0.0.0.0/0) does not.
	Allow []string
	// MaxBody bounds the response body read, in bytes; a longer body fails
	// the attempt with ResponseTooLarge (not retried). Default
	// MaxHTTPResponse (1 MiB).
	MaxBody int64
}

// BlockedHTTPRanges are the link-local and cloud metadata ranges
// http.request never reaches unless a CIDR entry of the allow-list inside
// the range names the address. Host names in BlockedHTTPHosts are refused
// likewise unless the allow-list names them exactly (and their addresses
// are still checked).
var BlockedHTTPRanges = []string{
	"169.254.0.0/16",     // IPv4 link-local: AWS, GCP, Azure, OCI, DigitalOcean metadata at 169.254.169.254, ECS at 169.254.170.2
	"fe80::/10",          // IPv6 link-local
	"fd00:ec2::254/128",  // AWS metadata over IPv6
	"fd20:ce::254/128",   // GCP metadata over IPv6
	"100.100.100.200/32", // Alibaba Cloud metadata
	"168.63.129.16/32",   // Azure host endpoint (WireServer)
}

// BlockedHTTPHosts are metadata host names refused by name, so that a proxy
// resolving them for us cannot reach them either.
var BlockedHTTPHosts = []string{"metadata.google.internal", "metadata.goog", "metadata.azure.internal"}

// nonPublic are the ranges the default policy (no allow-list) refuses
// besides the always-blocked ones: private, shared, unspecified, reserved,
// documentation, benchmarking and multicast addresses. Loopback is allowed.
var nonPublic = mustPrefixes(
	"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24",
	"192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
	"::/128", "64:ff9b:1::/48", "100::/64", "2001:db8::/32", "fc00::/7", "ff00::/8",
)

var (
	blockedRanges = mustPrefixes(BlockedHTTPRanges...)
	nat64         = netip.MustParsePrefix("64:ff9b::/96")
)

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// allowEntry is one parsed allow-list entry.
type allowEntry struct {
	raw      string
	name     string // host name, lower case; "" for an address or range
	wildcard bool   // name is a suffix: *.name
	prefix   netip.Prefix
	port     string // "" for any port
}

func parseAllowEntry(raw string) (allowEntry, error) {
	s := strings.TrimSpace(raw)
	e := allowEntry{raw: s}
	bad := func(why string) (allowEntry, error) {
		return allowEntry{}, fmt.Errorf("http allow-list entry %q: %s", raw, why)
	}
	switch {
	case s == "":
		return bad("empty")
	case s == "*":
		return bad("'*' is not an entry; to reach every address except metadata ones list 0.0.0.0/0 and ::/0")
	case strings.Contains(s, "://"):
		return bad("a URL; list its host name (e.g. example.com or example.com:8443)")
	case strings.Contains(s, "/"):
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return bad("not a CIDR range (want e.g. 10.0.0.0/8)")
		}
		e.prefix = p.Masked()
		return e, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		e.prefix = netip.PrefixFrom(a.Unmap().WithZone(""), a.Unmap().BitLen())
		return e, nil
	}
	host := s
	if h, p, err := net.SplitHostPort(s); err == nil {
		n, perr := strconv.Atoi(p)
		if perr != nil || n < 1 || n > 65535 {
			return bad("port must be a number from 1 to 65535")
		}
		host, e.port = h, strconv.Itoa(n)
	} else if strings.Contains(s, "[") || strings.Count(s, ":") > 0 {
		return bad("want host, host:port, *.domain, an address or a CIDR range")
	}
	if a, err := netip.ParseAddr(host); err == nil {
		e.prefix = netip.PrefixFrom(a.Unmap().WithZone(""), a.Unmap().BitLen())
		return e, nil
	}
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		e.wildcard, host = true, rest
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if !validHostName(host) {
		return bad("not a host name (letters, digits, '-' and '.'; a wildcard only as a leading '*.')")
	}
	e.name = host
	return e, nil
}

func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z') {
				return false
			}
		}
	}
	return true
}

// matchName reports whether the entry names host on port.
func (e allowEntry) matchName(host, port string) bool {
	if e.name == "" || (e.port != "" && e.port != port) {
		return false
	}
	if e.wildcard {
		return strings.HasSuffix(host, "."+e.name)
	}
	return host == e.name
}

// matchAddr reports whether the entry's address or range holds ip on port.
func (e allowEntry) matchAddr(ip netip.Addr, port string) bool {
	return e.prefix.IsValid() && (e.port == "" || e.port == port) && e.prefix.Contains(ip)
}

// HTTPForbiddenError is why http.request refused a host. The activity
// reports it as a non-retryable error of type HTTPForbidden.
type HTTPForbiddenError struct {
	Host     string // the host name or address of the URL
	Addr     string // the resolved address refused, if the refusal is about one
	Redirect string // the URL redirected from, when a redirect was refused
	Reason   string
}

func (e *HTTPForbiddenError) Error() string {
	var b strings.Builder
	if e.Redirect != "" {
		fmt.Fprintf(&b, "redirect from %s refused: ", e.Redirect)
	}
	fmt.Fprintf(&b, "host %q", e.Host)
	if e.Addr != "" && e.Addr != e.Host {
		fmt.Fprintf(&b, " (%s)", e.Addr)
	}
	b.WriteString(" " + e.Reason)
	return b.String()
}

// httpGuard enforces an HTTPPolicy on every request, redirect and dial of
// one http.Client.
type httpGuard struct {
	entries  []allowEntry
	listed   string // the allow-list as given, for messages
	hasRange bool   // some entry is an address or range
	maxBody  int64

	// Seams for tests; the defaults resolve and dial for real.
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	proxy  func(*http.Request) (*url.URL, error)

	proxies sync.Map // host:port of proxies the environment named; dialled unchecked
}

func newHTTPGuard(p HTTPPolicy) (*httpGuard, error) {
	if p.MaxBody < 0 {
		return nil, fmt.Errorf("http max body %d: must not be negative (0 means the default, %d)", p.MaxBody, MaxHTTPResponse)
	}
	g := &httpGuard{maxBody: p.MaxBody}
	if g.maxBody == 0 {
		g.maxBody = MaxHTTPResponse
	}
	var errs []error
	for _, raw := range p.Allow {
		e, err := parseAllowEntry(raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		g.entries = append(g.entries, e)
		g.hasRange = g.hasRange || e.prefix.IsValid()
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	raws := make([]string, len(g.entries))
	for i, e := range g.entries {
		raws[i] = e.raw
	}
	g.listed = strings.Join(raws, ", ")
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	g.dial = d.DialContext
	g.lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
		return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	}
	g.proxy = http.ProxyFromEnvironment
	return g, nil
}

// client returns an http.Client whose every connection and redirect goes
// through the guard.
func (g *httpGuard) client() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = g.dialContext
	t.DialTLSContext = nil
	t.Proxy = g.proxyFor
	t.MaxResponseHeaderBytes = 256 << 10
	return &http.Client{
		Transport: t,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			if err := g.checkURL(req.URL); err != nil {
				var f *HTTPForbiddenError
				if errors.As(err, &f) {
					f.Redirect = via[len(via)-1].URL.Redacted()
				}
				return err
			}
			return nil
		},
	}
}

func normHost(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }

func defaultPort(scheme string) string {
	switch scheme {
	case "https":
		return "443"
	case "socks5", "socks5h":
		return "1080"
	}
	return "80"
}

// literalAddr parses host as an address (brackets and zone removed,
// IPv4-mapped IPv6 unmapped).
func literalAddr(host string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// checkURL is the check made before a request and each redirect is sent:
// by name, and by address for a literal address. Names are checked again
// by address when dialled.
func (g *httpGuard) checkURL(u *url.URL) error {
	host, port := normHost(u.Hostname()), u.Port()
	if port == "" {
		port = defaultPort(u.Scheme)
	}
	if ip, ok := literalAddr(host); ok {
		return g.checkAddr(host, port, ip)
	}
	named := false
	for _, e := range g.entries {
		named = named || e.matchName(host, port)
	}
	for _, b := range BlockedHTTPHosts {
		if host == b && !named {
			return &HTTPForbiddenError{Host: host, Reason: "is a cloud metadata host; http.request does not reach it unless the allow-list names it"}
		}
	}
	if len(g.entries) > 0 && !named && !g.hasRange {
		return &HTTPForbiddenError{Host: host, Reason: g.notListed()}
	}
	return nil
}

func (g *httpGuard) notListed() string {
	return "is not on the http allow-list (" + g.listed + ")"
}

// checkAddr decides whether ip, resolved from host, may be dialled on port.
func (g *httpGuard) checkAddr(host, port string, ip netip.Addr) error {
	ip = ip.Unmap().WithZone("")
	forbid := func(reason string) error {
		return &HTTPForbiddenError{Host: host, Addr: ip.String(), Reason: reason}
	}
	// An IPv6 address that embeds an IPv4 one through NAT64 is judged as that one too.
	class := []netip.Addr{ip}
	if nat64.Contains(ip) {
		b := ip.As16()
		class = append(class, netip.AddrFrom4([4]byte(b[12:16])))
	}
	for _, c := range class {
		for _, r := range blockedRanges {
			if !r.Contains(c) {
				continue
			}
			for _, e := range g.entries {
				if e.matchAddr(c, port) && e.prefix.Bits() >= r.Bits() && r.Contains(e.prefix.Addr()) {
					return nil
				}
			}
			return forbid(fmt.Sprintf("is a link-local or cloud metadata address (%s); it is reached only when a CIDR entry inside that range allows it, e.g. %s/%d",
				r, c, c.BitLen()))
		}
	}
	if len(g.entries) == 0 {
		if ip.IsLoopback() {
			return nil
		}
		for _, c := range class {
			for _, r := range nonPublic {
				if r.Contains(c) {
					return forbid(fmt.Sprintf("is a private or reserved address (%s); with no allow-list http.request reaches public and loopback addresses only (list it with --http-allow or Config.HTTPAllow)", r))
				}
			}
		}
		return nil
	}
	for _, e := range g.entries {
		if e.matchAddr(ip, port) || e.matchName(host, port) {
			return nil
		}
	}
	return forbid(g.notListed())
}

// dialContext resolves addr, checks every address against the policy and
// dials only an allowed one, so a name cannot resolve (or rebind) to a
// refused address between the check and the connection.
func (g *httpGuard) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if _, ok := g.proxies.Load(addr); ok {
		return g.dial(ctx, network, addr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	host = normHost(host)
	var ips []netip.Addr
	if ip, ok := literalAddr(host); ok {
		ips = []netip.Addr{ip}
	} else if ips, err = g.lookup(ctx, host); err != nil {
		return nil, err
	}
	var first, last error
	for _, ip := range ips {
		ip = ip.Unmap().WithZone("")
		if network == "tcp4" && !ip.Is4() || network == "tcp6" && !ip.Is6() {
			continue
		}
		if err := g.checkAddr(host, port, ip); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		c, err := g.dial(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	if last != nil {
		return nil, last
	}
	if first != nil {
		return nil, first
	}
	return nil, fmt.Errorf("dial %s: no address for %s", addr, network)
}

// proxyFor returns the proxy the environment names for req. The proxy
// resolves and dials the target, so the target's addresses are resolved and
// checked here, and the proxy's own address (chosen by whoever runs the
// worker) is dialled without the check.
func (g *httpGuard) proxyFor(req *http.Request) (*url.URL, error) {
	pu, err := g.proxy(req)
	if err != nil || pu == nil {
		return pu, err
	}
	if err := g.checkURL(req.URL); err != nil {
		return nil, err
	}
	host, port := normHost(req.URL.Hostname()), req.URL.Port()
	if port == "" {
		port = defaultPort(req.URL.Scheme)
	}
	if _, ok := literalAddr(host); !ok {
		ips, err := g.lookup(req.Context(), host)
		if err != nil {
			return nil, err
		}
		for _, ip := range ips {
			if err := g.checkAddr(host, port, ip); err != nil {
				return nil, err
			}
		}
	}
	pport := pu.Port()
	if pport == "" {
		pport = defaultPort(pu.Scheme)
	}
	g.proxies.Store(net.JoinHostPort(pu.Hostname(), pport), true)
	return pu, nil
}
