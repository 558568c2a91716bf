// Package http is authd's HTTP API: routes, handlers and middleware. A
// handler decodes the request, calls the session package and encodes the
// answer; cookies and the JSON envelope live here, account and session
// rules do not.
package http

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/ratelimit"
	"github.com/authd/authd/internal/reqlog"
	"github.com/authd/authd/internal/session"
)

// Options are the HTTP layer's settings; cmd/authd copies them from config.
type Options struct {
	AccessMaxAge   time.Duration // access_token and logged_in cookie Max-Age
	RefreshMaxAge  time.Duration // refresh_token cookie Max-Age
	CookieSecure   bool
	CookieDomain   string
	ClientOrigins  []string
	TrustedProxies []netip.Prefix
	// IPv6SitePrefix is the coarser prefix whose clients also share one
	// bucket of ratelimit.SiteFactor times each limit; 0, or not below
	// IPv6Prefix: none.
	IPv6SitePrefix int
	// IPv6Prefix is how many leading bits of an IPv6 client address the
	// per-address limits key by; 0 or 128: the whole address.
	IPv6Prefix     int
	RequestTimeout time.Duration // per request; 0: none
	// RefusalDelay holds each 429 and each 503 of a full hashing queue
	// for up to this long (at most its Retry-After; at most pacedMax at once),
	// so that clients that ignore Retry-After are paced; 0: at once.
	RefusalDelay time.Duration
	// MetricsOnMainPort serves GET /metrics with the API; otherwise
	// cmd/authd serves MetricsHandler on its own listener.
	MetricsOnMainPort bool
	// Mail serves the routes that ask for a mail (forgot password, resend
	// verification, email change): MAIL_TRANSPORT is not off. Without it
	// they do not exist (404), as before the account flows; the routes
	// that take a mailed token stay (a link from "authd user reset-link"
	// works without mail).
	Mail bool
	// AccountSelfDelete serves DELETE /api/users/me (ACCOUNT_SELF_DELETE);
	// without it that method does not exist there (405, as before).
	AccountSelfDelete bool
}

// Deps are what NewServer wires into the handlers.
type Deps struct {
	Log      *slog.Logger
	Sessions *session.Service
	JWKS     []byte // the access-token public keys, served as is
	// Metrics records Prometheus metrics; nil records nothing.
	Metrics *metrics.Metrics
	// Per client address limits; nil means no limit.
	LoginLimit, RegisterLimit, RefreshLimit *ratelimit.Limiter
	// MailLimit is per client address on every route that asks for a
	// mail (IP_MAIL_*); nil means no limit.
	MailLimit *ratelimit.Limiter
	// LinkLimit is per client address on every route that takes a mailed
	// link (IP_MAIL_* too, in a limiter of its own so that no client key
	// of another route can name one of its buckets); nil means no limit.
	LinkLimit *ratelimit.Limiter
	// CodeLimit is per client address on every route that takes a
	// second-factor code (IP_LOGIN_* too, in a limiter of its own); nil
	// means no limit.
	CodeLimit *ratelimit.Limiter
	// Ready reports whether the service can take traffic (database reachable,
	// schema current, not shutting down); nil means always.
	Ready func(context.Context) error
	Now   func() time.Time // nil: time.Now
}

// NewServer returns the whole API with its middleware.
func NewServer(d Deps, o Options) http.Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	d.Log = reqlog.Logger(d.Log)
	mux := http.NewServeMux()
	addRoutes(mux, d, o)
	var h http.Handler = jsonFallback(mux, d.Log)
	h = cors(o.ClientOrigins, d.Log)(h)
	h = secureHeaders(h)
	h = deadline(o.RequestTimeout, newPacer(o.RefusalDelay, pacedMax))(h)
	h = logRequests(d.Log, d.Metrics, o.TrustedProxies)(h)
	h = recoverer(d.Log)(h)
	return h
}
