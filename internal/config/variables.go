package config

import (
	"fmt"
	"strings"
	"time"
)

// Variable documents one environment variable that Load reads.
//
// Default is the literal value Load uses when the variable is unset or empty. A default in
// parentheses, such as "(number of CPUs)", describes a value computed at load time, and an empty
// Default means there is none. Secret variables are never echoed in errors or logs.
type Variable struct {
	Name        string
	Default     string
	Description string
	Secret      bool
}

// Variables lists every variable Load reads, in the order of the README's configuration table.
// The defaults and bounds described here are the ones Load applies.
func Variables() []Variable {
	rows := settings()
	vars := make([]Variable, len(rows))
	for i, s := range rows {
		vars[i] = Variable{Name: s.name, Default: s.def, Description: s.description(), Secret: s.secret}
	}
	return vars
}

// setting is one row of the configuration: everything Load and the documentation know about
// one variable. At most one of ints, durations and choices is set; the reader that Load uses for
// the variable takes its bounds from there.
type setting struct {
	name   string
	def    string // as Variable.Default
	desc   string // "{range}" is replaced by the valid values, rendered from the bounds
	secret bool

	ints      *bounds[int]           // integer and whole-minute settings
	durations *bounds[time.Duration] // duration settings
	choices   []string               // settings that take one of a few words
}

// bounds is an inclusive range.
type bounds[T int | time.Duration] struct{ min, max T }

func between[T int | time.Duration](lo, hi T) *bounds[T] { return &bounds[T]{lo, hi} }

// atLeast bounds a duration from below only.
func atLeast(lo time.Duration) *bounds[time.Duration] { return between(lo, noLimit) }

// description renders desc with its "{range}".
func (s setting) description() string {
	return strings.ReplaceAll(s.desc, "{range}", s.rangeText())
}

// rangeText describes the valid values, e.g. "1 to 1000", "100ms to 1m" or "json or text".
func (s setting) rangeText() string {
	switch {
	case s.ints != nil:
		return fmt.Sprintf("%d to %d", s.ints.min, s.ints.max)
	case s.durations != nil && s.durations.max == noLimit:
		return "at least " + docDuration(s.durations.min)
	case s.durations != nil:
		return docDuration(s.durations.min) + " to " + docDuration(s.durations.max)
	case len(s.choices) == 1:
		return s.choices[0]
	case len(s.choices) > 1:
		last := len(s.choices) - 1
		return strings.Join(s.choices[:last], ", ") + " or " + s.choices[last]
	}
	return ""
}

// docDuration is formatDuration, but writes zero as 0.
func docDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	return formatDuration(d)
}

const (
	// maxMaxAgeMinutes bounds the cookie Max-Age settings (one year).
	maxMaxAgeMinutes = 365 * 24 * 60
	// maxHashConcurrency bounds HASH_CONCURRENCY and its computed default.
	maxHashConcurrency = 256
	// maxPerIP bounds the per-address rate and burst settings.
	maxPerIP = 1_000_000
)

// settings lists every variable Load reads, in the order of the README's configuration table.
func settings() []setting {
	return []setting{
		// Database.
		{name: "DATABASE_URL", secret: true, desc: "PostgreSQL URL (postgres://user:password@host:port/db?sslmode=...); when set, the POSTGRES_* variables are ignored"},
		{name: "POSTGRES_HOST", desc: "PostgreSQL host name or IP address, or a Unix socket directory starting with /; required unless DATABASE_URL is set"},
		{name: "POSTGRES_PORT", def: "5432", ints: between(1, 65535), desc: "PostgreSQL port, {range}"},
		{name: "POSTGRES_USER", desc: "PostgreSQL user name"},
		{name: "POSTGRES_PASSWORD", secret: true, desc: "PostgreSQL password"},
		{name: "POSTGRES_DB", desc: "PostgreSQL database name"},
		{name: "DB_TIMEOUT", def: "3s", durations: between(100*time.Millisecond, time.Minute), desc: "timeout of each database query, {range}"},
		{name: "DB_MAX_CONNS", def: "16", ints: between(1, 1000), desc: "maximum open database connections, {range}"},
		{name: "MIGRATE_ON_START", def: "true", desc: "apply pending database migrations when the server starts (true or false)"},

		// HTTP server.
		{name: "LISTEN_HOST", desc: "address to listen on (host name or IP); empty means every interface"},
		{name: "PORT", def: "8000", ints: between(0, 65535), desc: "TCP port to listen on, {range} (0 picks a free port)"},
		{name: "CLIENT_ORIGIN", desc: "comma-separated browser origins allowed by CORS, exactly scheme://host[:port] (no path, no *)"},
		{name: "TRUSTED_PROXIES", desc: "comma-separated proxy IPs or CIDRs whose X-Forwarded-For is trusted; empty trusts none"},
		{name: "REQUEST_TIMEOUT", def: "10s", durations: between(time.Second, 10*time.Minute), desc: "deadline of each request, {range}"},
		{name: "SHUTDOWN_TIMEOUT", def: "20s", durations: between(time.Second, 10*time.Minute), desc: "how long in-flight requests may drain on shutdown, {range}"},
		{name: "SHUTDOWN_DELAY", def: "0s", durations: between(0, 5*time.Minute), desc: "on SIGTERM, how long /readyz answers 503 while requests are still served, before the listener closes (for load balancers), {range}"},
		{name: "PPROF", def: "false", desc: "serve Go's /debug/pprof/ profiles on the METRICS_ADDR listener (which must be set); keep that address private"},
		{name: "METRICS_ADDR", desc: "where to serve /metrics (Prometheus): empty serves it on the main port, host:port on a separate listener (e.g. :9090, not public), off turns it off"},

		// Tokens and sessions.
		{name: "ACCESS_TOKEN_PRIVATE_KEY", secret: true, desc: "base64-encoded PEM private key that signs access tokens; required"},
		{name: "ACCESS_TOKEN_PUBLIC_KEY", secret: true, desc: "base64-encoded PEM public key of ACCESS_TOKEN_PRIVATE_KEY; optional, derived from the private key"},
		{name: "ACCESS_TOKEN_VERIFY_KEYS", secret: true, desc: "comma-separated base64-encoded PEM public keys that still verify access tokens (key rotation)"},
		{name: "ACCESS_TOKEN_EXPIRED_IN", def: "15m", durations: between(10*time.Second, 24*time.Hour), desc: "access token lifetime (Go duration), {range}"},
		{name: "ACCESS_TOKEN_MAXAGE", def: "(ACCESS_TOKEN_EXPIRED_IN)", ints: between(1, maxMaxAgeMinutes), desc: "access_token and logged_in cookie Max-Age in whole minutes, {range}"},
		{name: "REFRESH_TOKEN_PRIVATE_KEY", secret: true, desc: "base64-encoded PEM private key that signs refresh tokens; required, different from the access key"},
		{name: "REFRESH_TOKEN_PUBLIC_KEY", secret: true, desc: "base64-encoded PEM public key of REFRESH_TOKEN_PRIVATE_KEY; optional, derived from the private key"},
		{name: "REFRESH_TOKEN_VERIFY_KEYS", secret: true, desc: "comma-separated base64-encoded PEM public keys that still verify refresh tokens (key rotation)"},
		{name: "REFRESH_TOKEN_EXPIRED_IN", def: "60m", durations: atLeast(time.Second), desc: "refresh token lifetime and session idle timeout (Go duration), longer than ACCESS_TOKEN_EXPIRED_IN"},
		{name: "REFRESH_TOKEN_MAXAGE", def: "(REFRESH_TOKEN_EXPIRED_IN)", ints: between(1, maxMaxAgeMinutes), desc: "refresh_token cookie Max-Age in whole minutes, {range}"},
		{name: "SESSION_MAX_LIFETIME", def: "168h", durations: atLeast(time.Second), desc: "absolute session lifetime that refreshing cannot extend (Go duration), at least REFRESH_TOKEN_EXPIRED_IN"},
		{name: "REFRESH_REUSE_GRACE", def: "10s", durations: between(0, time.Minute), desc: "how long an already rotated refresh token still returns its successor, {range}"},
		{name: "TOKEN_ISSUER", def: "authd", desc: "iss claim of issued tokens, required in verified tokens"},
		{name: "TOKEN_AUDIENCE", def: "authd", desc: "aud claim of issued tokens, required in verified tokens"},
		{name: "TOKEN_LEEWAY", def: "5s", durations: between(0, 30*time.Second), desc: "clock skew allowed when checking exp, nbf and iat, {range}"},

		// Cookies.
		{name: "COOKIE_SECURE", def: "true", desc: "set the Secure attribute on cookies; turn off only for local http development"},
		{name: "COOKIE_DOMAIN", desc: "Domain attribute of cookies; empty sends none (host-only cookies)"},

		// Passwords.
		{name: "BCRYPT_COST", def: "12", ints: between(10, 16), desc: "bcrypt cost of new password hashes, {range}"},
		{name: "HASH_CONCURRENCY", def: fmt.Sprintf("(GOMAXPROCS: usable CPUs, at most %d)", maxHashConcurrency), ints: between(1, maxHashConcurrency), desc: "password hashes computed at once, {range}"},
		{name: "HASH_QUEUE", def: "64", ints: between(0, 10000), desc: "most requests waiting for a hashing slot, {range}; fewer wait when their hashes could not end in time (see HASH_WAIT)"},
		{name: "HASH_WAIT", def: "2s", durations: between(time.Millisecond, time.Minute), desc: "time given to a caller without a deadline, {range}: a request (which has REQUEST_TIMEOUT) waits for a hashing slot only if its hash is estimated to end within nine tenths of the time it has left, and otherwise gets 503 at once"},
		{name: "HASH_NICE", def: "10", ints: between(0, 19), desc: "Linux nice value of the threads that compute hashes, {range}: other requests get the CPU first; 0 hashes at normal priority"},

		// Throttling.
		{name: "LOGIN_FAILURE_THRESHOLD", def: "5", ints: between(1, 100), desc: "consecutive failed logins for one email before it is locked, {range}"},
		{name: "LOGIN_LOCK_BASE", def: "1s", durations: between(100*time.Millisecond, time.Hour), desc: "first lock after the threshold; doubles with each further failure, {range}"},
		{name: "LOGIN_LOCK_MAX", def: "15m", durations: between(time.Second, 24*time.Hour), desc: "longest lock of one email (never permanent), {range}"},
		{name: "IP_LOGIN_PER_MINUTE", def: "30", ints: between(0, maxPerIP), desc: "logins per minute per client address after the burst; 0 turns the limit off"},
		{name: "IP_LOGIN_BURST", def: "10", ints: between(0, maxPerIP), desc: "logins a client address may send at once; 0 turns the limit off"},
		{name: "IP_REGISTER_PER_MINUTE", def: "10", ints: between(0, maxPerIP), desc: "registrations per minute per client address after the burst; 0 turns the limit off"},
		{name: "IP_REGISTER_BURST", def: "5", ints: between(0, maxPerIP), desc: "registrations a client address may send at once; 0 turns the limit off"},
		{name: "IP_REFRESH_PER_MINUTE", def: "120", ints: between(0, maxPerIP), desc: "refreshes per minute per client address after the burst; 0 turns the limit off"},
		{name: "IP_REFRESH_BURST", def: "30", ints: between(0, maxPerIP), desc: "refreshes a client address may send at once; 0 turns the limit off"},
		{name: "IP_V6_PREFIX", def: "64", ints: between(32, 128), desc: "IPv6 clients in one prefix of this many bits share the per-address limits (one site usually has a /64 or more), {range}"},

		// Logging.
		{name: "LOG_LEVEL", def: "info", choices: []string{"debug", "info", "warn", "error"}, desc: "minimum log level: {range}"},
		{name: "LOG_FORMAT", def: "json", choices: []string{"json", "text"}, desc: "log format: {range}"},
	}
}
