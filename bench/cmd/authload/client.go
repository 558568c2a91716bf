package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
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

// client sends requests to authd over one keep-alive connection pool.
type client struct {
	base string
	hc   *http.Client
}

func newClient(base string, conns int, timeout time.Duration) *client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: loopbackOnly}
	tr := &http.Transport{
		Proxy:               nil, // never through a proxy: loopback only
		DialContext:         dialer.DialContext,
		MaxIdleConns:        conns + 16,
		MaxIdleConnsPerHost: conns + 16, // every worker keeps its connection
		MaxConnsPerHost:     0,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &client{
		base: base,
		hc: &http.Client{
			Transport: tr,
			Timeout:   timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
}

// send makes one request and reads the whole body, so that the connection
// goes back to the pool. The response is returned with its body closed;
// its headers and cookies are still there.
//
// from, when not empty, is sent as X-Forwarded-For: the client address
// authd sees when it trusts 127.0.0.1 as a proxy (-xff).
func (c *client) send(ctx context.Context, method, path, from string, body []byte, set func(http.Header)) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "authload/1")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if from != "" {
		req.Header.Set("X-Forwarded-For", from)
	}
	if set != nil {
		set(req.Header)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// sendBody is send for the few answers whose body matters (setup errors).
func (c *client) sendBody(ctx context.Context, method, path, from string, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("User-Agent", "authload/1")
	req.Header.Set("Content-Type", "application/json")
	if from != "" {
		req.Header.Set("X-Forwarded-For", from)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, nil, err
	}
	io.Copy(io.Discard, resp.Body)
	return resp, b, nil
}

func (c *client) close() { c.hc.CloseIdleConnections() }

// cookie returns the value of the named cookie set by resp, or "".
func cookie(resp *http.Response, name string) string {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// classify names the kind of a transport error.
func classify(err error) errKind {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return errRefused
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return errTimeout
	}
	return errOther
}

// retryAfter is how long to wait before retrying a 503 or 429 answer: the
// server's Retry-After (else 500ms), at most max, plus up to a quarter more
// so that waiting workers do not all come back at once.
func retryAfter(resp *http.Response, max time.Duration, jitter func(time.Duration) time.Duration) time.Duration {
	d := 500 * time.Millisecond
	if resp != nil {
		if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n >= 0 {
			d = time.Duration(n) * time.Second
		}
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
