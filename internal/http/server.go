// Package http is authd's HTTP API: routes, handlers and middleware.
package http

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/ratelimit"
	"github.com/authd/authd/internal/token"
)

// Options are the HTTP layer's settings; cmd/authd copies them from config.
type Options struct {
	AccessMaxAge    time.Duration // access_token and logged_in cookie Max-Age
	RefreshMaxAge   time.Duration // refresh_token cookie Max-Age
	RefreshTTL      time.Duration // session idle timeout, renewed by each refresh
	SessionLifetime time.Duration // absolute session lifetime
	ReuseGrace      time.Duration // how long a just-rotated refresh token still works
	CookieSecure    bool
	CookieDomain    string
	ClientOrigins   []string
	TrustedProxies  []netip.Prefix
	DBTimeout       time.Duration // per database call
	RequestTimeout  time.Duration // per request
	// MetricsOnMainPort serves GET /metrics with the API; otherwise
	// cmd/authd serves MetricsHandler on its own listener.
	MetricsOnMainPort bool

	// Per-account login throttle: from LoginFailureThreshold consecutive
	// failures on, the email is locked for LoginLockBase, doubling with each
	// further failure, at most LoginLockMax. Threshold 0 turns it off.
	LoginFailureThreshold int
	LoginLockBase         time.Duration
	LoginLockMax          time.Duration
}

// Deps are what the handlers need.
type Deps struct {
	Log     *slog.Logger
	Queries *db.Queries
	Tokens  *token.Signer
	Hasher  *password.Hasher
	// Metrics records Prometheus metrics; nil records nothing.
	Metrics *metrics.Metrics
	// Per client address limits; nil means no limit.
	LoginLimit, RegisterLimit, RefreshLimit *ratelimit.Limiter
	// Ready reports whether the service can take traffic (database reachable,
	// schema current, not shutting down).
	Ready   func(context.Context) error
	Now     func() time.Time
	Options Options
}

// NewServer returns the whole API with its middleware.
func NewServer(d Deps) http.Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Options.DBTimeout <= 0 {
		d.Options.DBTimeout = 3 * time.Second
	}
	if d.Options.RequestTimeout <= 0 {
		d.Options.RequestTimeout = 10 * time.Second
	}
	mux := http.NewServeMux()
	addRoutes(mux, &d)
	var h http.Handler = jsonFallback(mux, d.Log)
	h = deadline(d.Options.RequestTimeout)(h)
	h = cors(d.Options.ClientOrigins, d.Log)(h)
	h = secureHeaders(h)
	h = logRequests(d.Log, d.Metrics)(h)
	h = recoverer(d.Log)(h)
	return h
}

// dbCtx bounds one database call.
func (d *Deps) dbCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d.Options.DBTimeout)
}
