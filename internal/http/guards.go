package http

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/ratelimit"
	"github.com/authd/authd/internal/reqlog"
	"github.com/authd/authd/internal/session"
)

type ctxKey int

const authKey ctxKey = iota

// requireAuth admits requests whose access token is valid and whose session
// is still active, and puts the caller in the request context.
func requireAuth(log *slog.Logger, s *session.Service) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, err := accessToken(r)
			if err != nil {
				writeError(w, r, log, err)
				return
			}
			a, err := s.Authenticate(r.Context(), tok)
			if err != nil {
				writeError(w, r, log, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), authKey, a)))
		})
	}
}

// authFrom returns the caller that requireAuth admitted.
func authFrom(ctx context.Context) session.Auth {
	a, _ := ctx.Value(authKey).(session.Auth)
	return a
}

// accessToken extracts the access token: the Authorization header when
// present (it must then be "Bearer <token>", and there must be only one),
// else the access_token cookie. Tokens are never read from the URL.
func accessToken(r *http.Request) (string, error) {
	if len(r.Header.Values("Authorization")) > 1 {
		return "", errTwoCredentials
	}
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, found := strings.Cut(strings.TrimSpace(h), " ")
		tok = strings.TrimSpace(tok)
		if !found || !strings.EqualFold(scheme, "Bearer") || tok == "" {
			return "", errNotLoggedIn
		}
		return tok, nil
	}
	if c, err := r.Cookie(accessCookie); err == nil && c.Value != "" {
		return c.Value, nil
	}
	return "", errNotLoggedIn
}

// refuseCrossSite guards the state-changing auth routes against requests a
// browser sends on another site's behalf:
//   - an Origin that is neither ours nor configured;
//   - without Origin, a GET whose fetch metadata is not same-origin or
//     none (a sibling subdomain is same-site, and its <img> would carry
//     even SameSite=Strict cookies), or a POST from cross-site;
//   - a GET with neither header (curl, or a browser without fetch
//     metadata) that asks for more than the current session's logout;
//   - a POST body that is not JSON (an HTML form cannot send JSON).
func refuseCrossSite(log *slog.Logger, origins []string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// The mux sends HEAD to GET handlers; HEAD must never log out
			// or rotate anything.
			if r.Method == http.MethodHead {
				w.Header().Set("Allow", "GET, POST")
				writeError(w, r, log, errMethodNotAllowed)
				return
			}
			origin, site := r.Header.Get("Origin"), r.Header.Get("Sec-Fetch-Site")
			var refuse bool
			switch {
			case origin != "":
				refuse = !slices.Contains(origins, origin) && !sameHost(origin, r.Host)
			case r.Method == http.MethodGet && site != "":
				refuse = site != "same-origin" && site != "none"
			case r.Method == http.MethodGet:
				scope := r.URL.Query().Get("scope")
				refuse = scope != "" && scope != "current"
			default:
				refuse = site == "cross-site"
			}
			if refuse {
				writeError(w, r, log, errCrossSite)
				return
			}
			if ct := r.Header.Get("Content-Type"); r.Method == http.MethodPost && ct != "" && !isJSON(ct) {
				writeError(w, r, log, errUnsupportedMedia)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func sameHost(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, host)
}

// perClient limits requests per client, as key names it: a token from
// the client's bucket, and from its site's if it has one (see
// ratelimit.Limiter.AllowSite); nil lim means no limit.
func perClient(log *slog.Logger, m *metrics.Metrics, lim *ratelimit.Limiter, key func(*http.Request) clientKey) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if lim == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			k := key(r)
			if ok, after := lim.AllowSite(k.client, k.site); !ok {
				m.Throttled(metrics.ThrottledByAddress)
				log.LogAttrs(r.Context(), slog.LevelDebug, "throttled", reqlog.RequestThrottled.Attr(),
					slog.String("by", "client address"), slog.String("bucket", k.client), slog.String("route", r.Pattern))
				writeError(w, r, log, throttled(after))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// clientKey names a client for the per-address limits: its own bucket,
// and for IPv6 the coarser bucket of its site ("": none).
type clientKey struct{ client, site string }

// limitKeys names the client of address addr (limitKey with bits) and,
// for IPv6, its site: the prefix of siteBits that holds it, if siteBits is
// above 0 and below bits. A site gets 65,536 /64s or more (a /48), so
// without the site level a flood from one would get as many fresh
// buckets.
func limitKeys(addr string, bits, siteBits int) clientKey {
	k := clientKey{client: limitKey(addr, bits)}
	if a, err := netip.ParseAddr(addr); err == nil && a.Is6() && siteBits > 0 && siteBits < min(bits, 128) {
		if p, err := a.WithZone("").Prefix(siteBits); err == nil {
			k.site = p.String()
		}
	}
	return k
}

// limitKey names the client of address addr for the per-address limits:
// an IPv4 address, or the IPv6 prefix of bits that holds the address (one
// site gets a /64 or more, so whole addresses would give it unlimited
// fresh buckets). Anything else is used as it is.
func limitKey(addr string, bits int) string {
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is6() || bits <= 0 || bits >= 128 {
		return addr
	}
	p, err := a.WithZone("").Prefix(bits)
	if err != nil {
		return addr
	}
	return p.String()
}

// clientAddr is the socket's address, or, when the socket belongs to a
// trusted proxy, the nearest untrusted hop in X-Forwarded-For. A hop may
// be written ip, ip:port, [ipv6] or [ipv6]:port; one that is none of
// these is the client as written (at most 64 bytes), never the proxy's
// own address, which every client behind it would then share.
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	addr := ap.Addr().Unmap()
	if !isTrusted(addr, trusted) {
		return addr.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		a, ok := parseHop(hop)
		if !ok {
			if hop == "" {
				continue
			}
			return truncate(hop, 64)
		}
		if !isTrusted(a, trusted) {
			return a.String()
		}
		addr = a
	}
	return addr.String()
}

// parseHop reads one X-Forwarded-For entry: ip, ip:port, [ipv6] or
// [ipv6]:port, without a zone.
func parseHop(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		if ap, perr := netip.ParseAddrPort(s); perr == nil {
			a, err = ap.Addr(), nil
		} else if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
			a, err = netip.ParseAddr(s[1 : len(s)-1])
		}
	}
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	return slices.ContainsFunc(trusted, func(p netip.Prefix) bool { return p.Contains(a) })
}
