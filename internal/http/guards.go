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
// browser sends on another site's behalf: an Origin that is neither ours
// nor configured, or, without Origin, Sec-Fetch-Site: cross-site; and POST
// bodies that are not JSON (an HTML form cannot send JSON).
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
			if origin := r.Header.Get("Origin"); origin != "" {
				if !slices.Contains(origins, origin) && !sameHost(origin, r.Host) {
					writeError(w, r, log, errCrossSite)
					return
				}
			} else if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
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

// perClient limits requests per client address; nil lim means no limit.
func perClient(log *slog.Logger, m *metrics.Metrics, lim *ratelimit.Limiter, addr func(*http.Request) string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if lim == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a := addr(r)
			if ok, after := lim.Allow(a); !ok {
				m.Throttled(metrics.ThrottledByAddress)
				log.LogAttrs(r.Context(), slog.LevelDebug, "throttled", slog.String("by", "client address"),
					slog.String("client", a), slog.String("path", truncate(r.URL.Path, 256)))
				writeError(w, r, log, throttled(after))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// clientAddr is the socket's address, or, when the socket belongs to a
// trusted proxy, the nearest untrusted address in X-Forwarded-For.
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
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !isTrusted(a, trusted) {
			return a.String()
		}
		addr = a
	}
	return addr.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	return slices.ContainsFunc(trusted, func(p netip.Prefix) bool { return p.Contains(a) })
}
