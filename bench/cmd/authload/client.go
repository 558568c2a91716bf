package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// loopbackURL parses raw and refuses anything but http(s) to a loopback
// address or "localhost". It returns the base URL without a trailing slash.
func loopbackURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("-url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("-url %q: scheme must be http or https", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return "", fmt.Errorf("-url %q: give only scheme://host[:port]", raw)
	}
	host := u.Hostname()
	if !strings.EqualFold(host, "localhost") {
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Unmap().IsLoopback() {
			return "", fmt.Errorf("-url %q: refusing a host that is not a loopback address or localhost", raw)
		}
	}
	return u.Scheme + "://" + u.Host, nil
}

// loopbackOnly is a dialer check: whatever a name resolved to, connect only
// to loopback addresses.
func loopbackOnly(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !ap.Addr().Unmap().IsLoopback() {
		return fmt.Errorf("refusing to connect to %s: not a loopback address", address)
	}
	return nil
}

// client sends requests to authd over a pool of keep-alive connections.
//
// It is built on fasthttp rather than net/http: authload shares the
// machine's cores with authd, and net/http's client spent about twice the
// CPU per request, which showed as a lower "me" figure than wrk's.
type client struct {
	base    string
	hc      *fasthttp.HostClient
	timeout time.Duration
}

func newClient(base string, conns int, timeout time.Duration) *client {
	u, _ := url.Parse(base) // checked by loopbackURL
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: loopbackOnly}
	return &client{
		base:    base,
		timeout: timeout,
		hc: &fasthttp.HostClient{
			Addr:                          addr,
			IsTLS:                         u.Scheme == "https",
			Dial:                          func(addr string) (net.Conn, error) { return dialer.Dial("tcp", addr) },
			MaxConns:                      conns + 16, // every worker keeps its connection
			MaxIdleConnDuration:           90 * time.Second,
			NoDefaultUserAgentHeader:      true,
			DisableHeaderNamesNormalizing: true,
			MaxResponseBodySize:           1 << 20,
		},
	}
}

// request is what a worker sends.
type request struct {
	method, path string
	from         string // X-Forwarded-For (see -xff), or ""
	bearer       string // an access token for Authorization, or ""
	cookie       string // the Cookie header, or ""
	body         []byte // JSON, or nil
}

// answer is what authload keeps of a response.
type answer struct {
	code       int
	access     string // the access_token cookie it set, or ""
	refresh    string // the refresh_token cookie it set, or ""
	device     string // the device_id cookie it set, or ""
	retryAfter string
	body       []byte // only from sendBody
}

// send makes one request and reads the whole answer. A request ends at the
// client's timeout or at ctx's deadline, whichever is first; a cancelled
// ctx does not cut a request already sent (authd answers in milliseconds).
func (c *client) send(ctx context.Context, rq request) (answer, error) {
	return c.do(ctx, rq, false)
}

// sendBody is send for the few answers whose body matters (setup errors).
func (c *client) sendBody(ctx context.Context, rq request) (answer, error) {
	return c.do(ctx, rq, true)
}

func (c *client) do(ctx context.Context, rq request, keepBody bool) (answer, error) {
	if err := ctx.Err(); err != nil {
		return answer{}, err
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(c.base + rq.path)
	req.Header.SetMethod(rq.method)
	req.Header.SetUserAgent("authload/1")
	if rq.body != nil {
		req.Header.SetContentType("application/json")
		req.SetBodyRaw(rq.body)
	}
	if rq.from != "" {
		req.Header.Set("X-Forwarded-For", rq.from)
	}
	if rq.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+rq.bearer)
	}
	if rq.cookie != "" {
		req.Header.Set("Cookie", rq.cookie)
	}
	deadline := time.Now().Add(c.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.hc.DoDeadline(req, resp, deadline); err != nil {
		return answer{}, err
	}
	a := answer{code: resp.StatusCode()}
	if ra := resp.Header.Peek("Retry-After"); ra != nil {
		a.retryAfter = string(ra)
	}
	a.access = setCookie(resp, "access_token")
	a.refresh = setCookie(resp, "refresh_token")
	a.device = setCookie(resp, deviceCookie)
	if keepBody {
		a.body = append([]byte(nil), resp.Body()...)
	}
	return a, nil
}

func (c *client) close() { c.hc.CloseIdleConnections() }

// deviceCookie is the cookie in which authd gives a browser its device id
// at every login: a later login of the same account that sends it back is a
// known device (its own throttle budget, and its own share of the hashing
// slots with HASH_KNOWN_DEVICE_SHARE).
const deviceCookie = "device_id"

// setCookie returns the value of the named cookie set by resp, or "".
func setCookie(resp *fasthttp.Response, name string) string {
	ck := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(ck)
	ck.SetKey(name)
	if !resp.Header.Cookie(ck) {
		return ""
	}
	return string(ck.Value())
}

// classify names the kind of a transport error.
func classify(err error) errKind {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return errRefused
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, fasthttp.ErrTimeout),
		errors.Is(err, fasthttp.ErrDialTimeout), errors.As(err, &ne) && ne.Timeout():
		return errTimeout
	}
	return errOther
}

// retryAfter is how long to wait before retrying a 503 or 429 answer: the
// server's Retry-After (else 500ms), at most max, plus up to a quarter more
// so that waiting workers do not all come back at once.
func retryAfter(a answer, max time.Duration, jitter func(time.Duration) time.Duration) time.Duration {
	d := 500 * time.Millisecond
	if n, err := strconv.Atoi(a.retryAfter); err == nil && n >= 0 {
		d = time.Duration(n) * time.Second
	}
	d = min(d, max)
	return d + jitter(d/4+1)
}

// Virtual client addresses for -xff come from 198.18.0.0/15, the range
// set aside for benchmarks (RFC 2544): seeded user i is address i, worker
// w of the measured group 65536+w, worker w of the flood 98304+w.
const (
	addrUserBase  = 0
	addrMainBase  = 1 << 16
	addrFloodBase = addrMainBase + 1<<15
	addrSpace     = 1 << 17
)

func benchAddr(i int) string {
	return fmt.Sprintf("198.%d.%d.%d", 18+i>>16, i>>8&0xff, i&0xff)
}
