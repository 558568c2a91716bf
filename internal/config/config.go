// Package config loads and validates authd's settings from the environment once, at start-up.
//
// Load reports every problem at once and never echoes the value of a secret variable. The
// package keeps signing keys as the base64 strings it was given: the token package parses them.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Config holds every setting of authd. Only cmd/authd reads it; it copies the values into the
// option structs of the packages it wires together.
type Config struct {
	DatabaseURL string // DATABASE_URL, else built from the POSTGRES_* variables

	ListenAddr     string         // LISTEN_HOST and PORT as host:port
	ClientOrigins  []string       // CLIENT_ORIGIN: exact origins allowed by CORS
	TrustedProxies []netip.Prefix // TRUSTED_PROXIES

	AccessPrivateKey  string   // ACCESS_TOKEN_PRIVATE_KEY: base64-encoded PEM
	AccessPublicKey   string   // ACCESS_TOKEN_PUBLIC_KEY: base64-encoded PEM, optional
	AccessVerifyKeys  []string // ACCESS_TOKEN_VERIFY_KEYS: extra base64-encoded PEM public keys
	RefreshPrivateKey string   // REFRESH_TOKEN_PRIVATE_KEY
	RefreshPublicKey  string   // REFRESH_TOKEN_PUBLIC_KEY
	RefreshVerifyKeys []string // REFRESH_TOKEN_VERIFY_KEYS

	AccessTTL       time.Duration // ACCESS_TOKEN_EXPIRED_IN
	RefreshTTL      time.Duration // REFRESH_TOKEN_EXPIRED_IN: also the session idle timeout
	AccessMaxAge    time.Duration // ACCESS_TOKEN_MAXAGE (given in minutes)
	RefreshMaxAge   time.Duration // REFRESH_TOKEN_MAXAGE (given in minutes)
	SessionLifetime time.Duration // SESSION_MAX_LIFETIME
	ReuseGrace      time.Duration // REFRESH_REUSE_GRACE
	Issuer          string        // TOKEN_ISSUER
	Audience        string        // TOKEN_AUDIENCE
	Leeway          time.Duration // TOKEN_LEEWAY

	BcryptCost      int           // BCRYPT_COST
	HashConcurrency int           // HASH_CONCURRENCY
	HashQueue       int           // HASH_QUEUE
	HashWait        time.Duration // HASH_WAIT
	HashNice        int           // HASH_NICE

	LoginFailureThreshold int           // LOGIN_FAILURE_THRESHOLD
	LoginLockBase         time.Duration // LOGIN_LOCK_BASE
	LoginLockMax          time.Duration // LOGIN_LOCK_MAX
	IPLoginPerMinute      int           // IP_LOGIN_PER_MINUTE
	IPLoginBurst          int           // IP_LOGIN_BURST
	IPRegisterPerMinute   int           // IP_REGISTER_PER_MINUTE
	IPRegisterBurst       int           // IP_REGISTER_BURST
	IPRefreshPerMinute    int           // IP_REFRESH_PER_MINUTE
	IPRefreshBurst        int           // IP_REFRESH_BURST

	CookieSecure bool   // COOKIE_SECURE
	CookieDomain string // COOKIE_DOMAIN

	DBTimeout       time.Duration // DB_TIMEOUT: per query
	DBMaxConns      int32         // DB_MAX_CONNS
	RequestTimeout  time.Duration // REQUEST_TIMEOUT
	ShutdownTimeout time.Duration // SHUTDOWN_TIMEOUT: drain period
	ShutdownDelay   time.Duration // SHUTDOWN_DELAY: readiness 503 before closing
	MetricsAddr     string        // METRICS_ADDR: "" serves /metrics on the main port
	Pprof           bool          // PPROF: /debug/pprof/ on the METRICS_ADDR listener
	MigrateOnStart  bool          // MIGRATE_ON_START

	LogLevel  slog.Level // LOG_LEVEL
	LogFormat string     // LOG_FORMAT: "json" or "text"
}

const (
	// maxMaxAgeMinutes bounds the cookie Max-Age settings (one year).
	maxMaxAgeMinutes = 365 * 24 * 60
	// noLimit is the upper bound of durations that only have a lower one.
	noLimit = time.Duration(math.MaxInt64)
)

// Load reads every setting through getenv, applies defaults, validates everything and returns
// all problems joined, one per line, each naming its variable. Unknown variables are ignored;
// an empty value counts as unset.
func Load(getenv func(string) string) (Config, error) {
	l := newLoader(getenv)
	var c Config

	c.DatabaseURL = l.databaseURL()
	c.DBTimeout, _ = l.duration("DB_TIMEOUT", 100*time.Millisecond, 60*time.Second)
	if n, ok := l.int("DB_MAX_CONNS", 1, 1000); ok {
		c.DBMaxConns = int32(n)
	}
	c.MigrateOnStart = l.bool("MIGRATE_ON_START")

	c.ListenAddr = l.listenAddr()
	c.ClientOrigins = l.origins("CLIENT_ORIGIN")
	c.TrustedProxies = l.prefixes("TRUSTED_PROXIES")
	c.RequestTimeout, _ = l.duration("REQUEST_TIMEOUT", time.Second, 10*time.Minute)
	c.ShutdownTimeout, _ = l.duration("SHUTDOWN_TIMEOUT", time.Second, 10*time.Minute)
	c.ShutdownDelay, _ = l.duration("SHUTDOWN_DELAY", 0, 5*time.Minute)
	if c.MetricsAddr = l.value("METRICS_ADDR"); c.MetricsAddr != "" && c.MetricsAddr != "off" {
		if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil || port == "" {
			l.problemf("METRICS_ADDR", "%s is not host:port (e.g. :9090), empty or off", l.show("METRICS_ADDR", c.MetricsAddr))
		}
	}
	if c.Pprof = l.bool("PPROF"); c.Pprof && (c.MetricsAddr == "" || c.MetricsAddr == "off") {
		l.problemf("PPROF", "profiles are served only on a separate METRICS_ADDR listener (e.g. 127.0.0.1:9090), never on the main port")
	}

	c.AccessPrivateKey = l.required("ACCESS_TOKEN_PRIVATE_KEY", "a base64-encoded PEM private key")
	c.AccessPublicKey = l.value("ACCESS_TOKEN_PUBLIC_KEY")
	c.AccessVerifyKeys = l.list("ACCESS_TOKEN_VERIFY_KEYS")
	var accessOK, refreshOK, lifetimeOK bool
	c.AccessTTL, accessOK = l.duration("ACCESS_TOKEN_EXPIRED_IN", 10*time.Second, 24*time.Hour)
	c.AccessMaxAge = c.AccessTTL
	if d, ok := l.minutes("ACCESS_TOKEN_MAXAGE"); ok {
		c.AccessMaxAge = d
	}

	c.RefreshPrivateKey = l.required("REFRESH_TOKEN_PRIVATE_KEY", "a base64-encoded PEM private key")
	c.RefreshPublicKey = l.value("REFRESH_TOKEN_PUBLIC_KEY")
	c.RefreshVerifyKeys = l.list("REFRESH_TOKEN_VERIFY_KEYS")
	c.RefreshTTL, refreshOK = l.duration("REFRESH_TOKEN_EXPIRED_IN", time.Second, noLimit)
	c.RefreshMaxAge = c.RefreshTTL
	if d, ok := l.minutes("REFRESH_TOKEN_MAXAGE"); ok {
		c.RefreshMaxAge = d
	}
	if accessOK && refreshOK && c.RefreshTTL <= c.AccessTTL {
		l.problemf("REFRESH_TOKEN_EXPIRED_IN", "%s must be longer than ACCESS_TOKEN_EXPIRED_IN (%s)",
			formatDuration(c.RefreshTTL), formatDuration(c.AccessTTL))
	}

	c.SessionLifetime, lifetimeOK = l.duration("SESSION_MAX_LIFETIME", time.Second, noLimit)
	if lifetimeOK && refreshOK && c.SessionLifetime < c.RefreshTTL {
		l.problemf("SESSION_MAX_LIFETIME", "%s must be at least REFRESH_TOKEN_EXPIRED_IN (%s)",
			formatDuration(c.SessionLifetime), formatDuration(c.RefreshTTL))
	}
	c.ReuseGrace, _ = l.duration("REFRESH_REUSE_GRACE", 0, time.Minute)
	c.Issuer = l.value("TOKEN_ISSUER")
	c.Audience = l.value("TOKEN_AUDIENCE")
	c.Leeway, _ = l.duration("TOKEN_LEEWAY", 0, 30*time.Second)

	c.CookieSecure = l.bool("COOKIE_SECURE")
	c.CookieDomain = l.cookieDomain("COOKIE_DOMAIN")

	c.BcryptCost, _ = l.int("BCRYPT_COST", 10, 16)
	c.HashConcurrency = min(runtime.GOMAXPROCS(0), 256) // respects a container CPU limit
	if n, ok := l.int("HASH_CONCURRENCY", 1, 256); ok {
		c.HashConcurrency = n
	}
	c.HashQueue, _ = l.int("HASH_QUEUE", 0, 10000)
	c.HashWait, _ = l.duration("HASH_WAIT", time.Millisecond, time.Minute)
	c.HashNice, _ = l.int("HASH_NICE", 0, 19)

	c.LoginFailureThreshold, _ = l.int("LOGIN_FAILURE_THRESHOLD", 1, 100)
	c.LoginLockBase, _ = l.duration("LOGIN_LOCK_BASE", 100*time.Millisecond, time.Hour)
	c.LoginLockMax, _ = l.duration("LOGIN_LOCK_MAX", time.Second, 24*time.Hour)
	if c.LoginLockMax < c.LoginLockBase {
		l.problemf("LOGIN_LOCK_MAX", "must be at least LOGIN_LOCK_BASE")
	}
	c.IPLoginPerMinute, _ = l.int("IP_LOGIN_PER_MINUTE", 0, 1_000_000)
	c.IPLoginBurst, _ = l.int("IP_LOGIN_BURST", 0, 1_000_000)
	c.IPRegisterPerMinute, _ = l.int("IP_REGISTER_PER_MINUTE", 0, 1_000_000)
	c.IPRegisterBurst, _ = l.int("IP_REGISTER_BURST", 0, 1_000_000)
	c.IPRefreshPerMinute, _ = l.int("IP_REFRESH_PER_MINUTE", 0, 1_000_000)
	c.IPRefreshBurst, _ = l.int("IP_REFRESH_BURST", 0, 1_000_000)

	c.LogLevel = l.logLevel("LOG_LEVEL")
	c.LogFormat = l.oneOf("LOG_FORMAT", "json", "text")

	if err := errors.Join(l.problems...); err != nil {
		return Config{}, err
	}
	return c, nil
}

// loader reads variables and collects problems. Problems never contain the value of a secret.
type loader struct {
	getenv   func(string) string
	vars     map[string]Variable
	problems []error
}

func newLoader(getenv func(string) string) *loader {
	vars := make(map[string]Variable)
	for _, v := range Variables() {
		vars[v.Name] = v
	}
	return &loader{getenv: getenv, vars: vars}
}

func (l *loader) problemf(name, format string, args ...any) {
	l.problems = append(l.problems, errors.New(name+": "+fmt.Sprintf(format, args...)))
}

// raw returns the variable exactly as getenv does.
func (l *loader) raw(name string) string {
	if _, ok := l.vars[name]; !ok {
		// The tests catch this: every variable Load reads must be listed in Variables.
		l.problemf(name, "internal error: variable is not listed in Variables")
	}
	return l.getenv(name)
}

// value returns the variable with surrounding white space removed, or its documented literal
// default when it is unset or empty. A computed default, such as "(number of CPUs)", is the
// caller's business: value returns "" for it.
func (l *loader) value(name string) string {
	if s := strings.TrimSpace(l.raw(name)); s != "" {
		return s
	}
	if d := l.vars[name].Default; !strings.HasPrefix(d, "(") {
		return d
	}
	return ""
}

// show quotes s for an error message, unless name is secret.
func (l *loader) show(name, s string) string {
	if l.vars[name].Secret {
		return "the value (not shown)"
	}
	return strconv.Quote(s)
}

// required returns the variable, reporting a problem when it is unset.
func (l *loader) required(name, what string) string {
	s := l.value(name)
	if s == "" {
		l.problemf(name, "must be set (%s)", what)
	}
	return s
}

// int parses an integer in [lo, hi]. ok is false when the variable is invalid or unset
// without a literal default.
func (l *loader) int(name string, lo, hi int) (n int, ok bool) {
	s := l.value(name)
	if s == "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	switch {
	case errors.Is(err, strconv.ErrRange):
		l.problemf(name, "%s is out of range (want %d to %d)", l.show(name, s), lo, hi)
		return 0, false
	case err != nil:
		l.problemf(name, "%s is not an integer (want %d to %d)", l.show(name, s), lo, hi)
		return 0, false
	case n < lo || n > hi:
		l.problemf(name, "%s is out of range (want %d to %d)", l.show(name, s), lo, hi)
		return 0, false
	}
	return n, true
}

// minutes parses a whole number of minutes, the tutorial's unit for cookie Max-Age.
func (l *loader) minutes(name string) (time.Duration, bool) {
	s := l.value(name)
	if s == "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		l.problemf(name, "%s is not a whole number of minutes (e.g. 15)", l.show(name, s))
		return 0, false
	}
	if err != nil || n < 1 || n > maxMaxAgeMinutes {
		l.problemf(name, "%s is out of range (want 1 to %d minutes)", l.show(name, s), maxMaxAgeMinutes)
		return 0, false
	}
	return time.Duration(n) * time.Minute, true
}

// duration parses a Go duration in [lo, hi]. ok is false when the variable is invalid.
func (l *loader) duration(name string, lo, hi time.Duration) (d time.Duration, ok bool) {
	s := l.value(name)
	d, err := time.ParseDuration(s)
	if err != nil {
		if isDigits(s) {
			l.problemf(name, "%s is not a duration: add a unit (e.g. %sm or %ss)", l.show(name, s), s, s)
		} else {
			l.problemf(name, "%s is not a duration (e.g. 15m)", l.show(name, s))
		}
		return 0, false
	}
	if d < lo || d > hi {
		if hi == noLimit {
			l.problemf(name, "%s is out of range (want at least %s)", formatDuration(d), formatDuration(lo))
		} else {
			l.problemf(name, "%s is out of range (want %s to %s)", formatDuration(d), formatDuration(lo), formatDuration(hi))
		}
		return 0, false
	}
	return d, true
}

func (l *loader) bool(name string) bool {
	s := l.value(name)
	b, err := strconv.ParseBool(s)
	if err != nil {
		l.problemf(name, "%s is not a boolean (want true or false)", l.show(name, s))
	}
	return b
}

func (l *loader) oneOf(name string, allowed ...string) string {
	s := strings.ToLower(l.value(name))
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	l.problemf(name, "%s is not one of %s", l.show(name, s), strings.Join(allowed, ", "))
	return ""
}

func (l *loader) logLevel(name string) slog.Level {
	switch s := l.oneOf(name, "debug", "info", "warn", "error"); s {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// list splits a comma-separated variable, trimming items and dropping empty ones.
func (l *loader) list(name string) []string {
	var items []string
	for item := range strings.SplitSeq(l.value(name), ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// databaseURL returns DATABASE_URL or builds a URL from the POSTGRES_* variables.
func (l *loader) databaseURL() string {
	raw := l.value("DATABASE_URL")
	host := l.value("POSTGRES_HOST")
	port := l.value("POSTGRES_PORT")
	user := l.value("POSTGRES_USER")
	password := l.raw("POSTGRES_PASSWORD") // not trimmed: spaces may be part of a password
	dbname := l.value("POSTGRES_DB")

	if raw != "" {
		// Never include url.Parse's error: it quotes the URL, password and all.
		u, err := url.Parse(raw)
		if err != nil || u.Opaque != "" || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			l.problemf("DATABASE_URL", "%s is not a postgres:// or postgresql:// URL", l.show("DATABASE_URL", raw))
			return ""
		}
		return raw
	}
	if host == "" {
		l.problems = append(l.problems, errors.New("DATABASE_URL or POSTGRES_HOST must be set"))
		return ""
	}
	if _, ok := l.int("POSTGRES_PORT", 1, 65535); !ok {
		return ""
	}

	u := url.URL{Scheme: "postgres", Path: "/" + dbname, RawPath: "/" + url.PathEscape(dbname)}
	switch {
	case user != "" && password != "":
		u.User = url.UserPassword(user, password)
	case user != "":
		u.User = url.User(user)
	case password != "":
		u.User = url.UserPassword("", password)
	}
	switch {
	case strings.HasPrefix(host, "/"):
		u.RawQuery = url.Values{"host": {host}, "port": {port}}.Encode()
	case isHost(host):
		u.Host = net.JoinHostPort(host, port)
	default:
		l.problemf("POSTGRES_HOST", "%s is not a host name, IP address or socket directory (e.g. 127.0.0.1)", l.show("POSTGRES_HOST", host))
		return ""
	}
	return u.String()
}

func (l *loader) listenAddr() string {
	host := l.value("LISTEN_HOST")
	if host != "" && !isHost(host) {
		l.problemf("LISTEN_HOST", "%s is not a host name or IP address (no brackets or port, e.g. 127.0.0.1 or ::1)", l.show("LISTEN_HOST", host))
	}
	port, _ := l.int("PORT", 0, 65535)
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// origins parses a list of exact browser origins as sent in the Origin header. Case is
// normalised and a default port dropped, as browsers do.
func (l *loader) origins(name string) []string {
	var origins []string
	seen := make(map[string]bool)
	for _, item := range l.list(name) {
		origin, problem := parseOrigin(item)
		if problem != "" {
			l.problemf(name, "%s %s (want scheme://host[:port], e.g. https://app.example.com)", l.show(name, item), problem)
			continue
		}
		if !seen[origin] {
			seen[origin] = true
			origins = append(origins, origin)
		}
	}
	return origins
}

// parseOrigin returns the canonical origin, or a problem describing why s is not one.
func parseOrigin(s string) (origin, problem string) {
	if strings.Contains(s, "*") {
		return "", "is a wildcard: list each origin exactly"
	}
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || u.Host == "" || !strings.Contains(s, "://") {
		return "", "is not an origin"
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", "must use http or https"
	case u.User != nil:
		return "", "must not contain user info"
	case u.Path == "/" && u.RawQuery == "" && u.Fragment == "":
		return "", "must not end with a slash"
	case u.Path != "" || u.RawPath != "":
		return "", "must not have a path"
	case u.RawQuery != "" || u.ForceQuery || strings.Contains(s, "?"):
		return "", "must not have a query"
	case u.Fragment != "" || strings.Contains(s, "#"):
		return "", "must not have a fragment"
	case strings.HasSuffix(u.Host, ":"):
		return "", "has an empty port"
	}
	host := strings.ToLower(u.Hostname())
	if addr, err := netip.ParseAddr(host); err == nil {
		if addr.Zone() != "" {
			return "", "must not have an IPv6 zone"
		}
		if addr.Is6() != strings.HasPrefix(u.Host, "[") {
			return "", "is not an origin"
		}
	} else if !isHostname(host) {
		return "", "does not have a valid host name"
	}
	port := u.Port()
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", "does not have a valid port (1 to 65535)"
		}
		if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
			port = ""
		}
	}
	if port != "" {
		return u.Scheme + "://" + net.JoinHostPort(host, port), ""
	}
	if strings.Contains(host, ":") {
		return u.Scheme + "://[" + host + "]", ""
	}
	return u.Scheme + "://" + host, ""
}

// prefixes parses a list of IP addresses and CIDR prefixes.
func (l *loader) prefixes(name string) []netip.Prefix {
	var prefixes []netip.Prefix
	for _, item := range l.list(name) {
		var p netip.Prefix
		var err error
		if strings.Contains(item, "/") {
			p, err = netip.ParsePrefix(item)
		} else {
			var addr netip.Addr
			addr, err = netip.ParseAddr(item)
			if err == nil && addr.Zone() != "" {
				err = errors.New("zone")
			}
			p = netip.PrefixFrom(addr, addr.BitLen())
		}
		if err != nil {
			l.problemf(name, "%s is not an IP address or CIDR prefix (e.g. 10.0.0.0/8 or 192.0.2.1)", l.show(name, item))
			continue
		}
		p = p.Masked()
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		if p.Bits() == 0 {
			l.problemf(name, "%s trusts every address: anyone could forge X-Forwarded-For", l.show(name, item))
			continue
		}
		prefixes = append(prefixes, p)
	}
	return prefixes
}

func (l *loader) cookieDomain(name string) string {
	s := l.value(name)
	if s == "" {
		return ""
	}
	d := strings.TrimPrefix(s, ".")
	if strings.HasSuffix(d, ".") || !isHost(d) || strings.Contains(d, ":") {
		l.problemf(name, "%s is not a domain name (e.g. example.com; no scheme, port or path)", l.show(name, s))
	}
	return s
}

// isHost reports whether s is an IP address or a host name.
func isHost(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	return isHostname(strings.TrimSuffix(s, "."))
}

// isHostname reports whether s is a syntactically valid DNS host name (underscores allowed).
func isHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !isAlnum(c) && c != '-' && c != '_' {
				return false
			}
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// formatDuration prints d without zero trailing units: 24h rather than 24h0m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
