// Package config loads and validates authd's settings from the environment once, at start-up.
//
// Load reports every problem at once and never echoes the value of a secret variable. The
// package keeps signing keys as the base64 strings it was given: the token package parses them.
package config

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"runtime"
	"time"
)

// Config holds every setting of authd. Only cmd/authd reads it; it copies the values into the
// option structs of the packages it wires together.
type Config struct {
	DatabaseURL        string // DATABASE_URL, else built from the POSTGRES_* variables
	MigrateDatabaseURL string // MIGRATE_DATABASE_URL: for migrations; "" means DatabaseURL

	ListenAddr     string         // LISTEN_HOST and PORT as host:port
	ClientOrigins  []string       // CLIENT_ORIGIN: exact origins allowed by CORS
	TrustedProxies []netip.Prefix // TRUSTED_PROXIES

	AccessPrivateKey   string   // ACCESS_TOKEN_PRIVATE_KEY: base64-encoded PEM
	AccessPublicKey    string   // ACCESS_TOKEN_PUBLIC_KEY: base64-encoded PEM, optional
	AccessVerifyKeys   []string // ACCESS_TOKEN_VERIFY_KEYS: extra base64-encoded PEM public keys
	RefreshPrivateKey  string   // REFRESH_TOKEN_PRIVATE_KEY
	RefreshPublicKey   string   // REFRESH_TOKEN_PUBLIC_KEY
	RefreshVerifyKeys  []string // REFRESH_TOKEN_VERIFY_KEYS
	RefreshRetiredKeys []string // REFRESH_TOKEN_RETIRED_KEYS: earlier private keys, for MAC refresh tokens
	RefreshFormat      string   // REFRESH_TOKEN_FORMAT: "mac" or "jwt"

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
	IPv6Prefix            int           // IP_V6_PREFIX: bits of an IPv6 address that name one client

	CookieSecure bool   // COOKIE_SECURE
	CookieDomain string // COOKIE_DOMAIN

	DBTimeout       time.Duration // DB_TIMEOUT: per query
	DBMaxConns      int32         // DB_MAX_CONNS
	RequestTimeout  time.Duration // REQUEST_TIMEOUT
	RefusalDelay    time.Duration // REFUSAL_DELAY
	ShutdownTimeout time.Duration // SHUTDOWN_TIMEOUT: drain period
	ShutdownDelay   time.Duration // SHUTDOWN_DELAY: readiness 503 before closing
	MetricsAddr     string        // METRICS_ADDR: host:port of its own listener, "main" or "off"
	Pprof           bool          // PPROF: /debug/pprof/ on the METRICS_ADDR listener
	MigrateOnStart  bool          // MIGRATE_ON_START
	DBStartupWait   time.Duration // DB_STARTUP_WAIT: start-up retries to reach the database

	MailTransport       string        // MAIL_TRANSPORT: "off", "smtp" or "log"
	EmailFrom           string        // EMAIL_FROM
	EmailFromName       string        // EMAIL_FROM_NAME
	SMTPHost            string        // SMTP_HOST
	SMTPPort            int           // SMTP_PORT
	SMTPUser            string        // SMTP_USER
	SMTPPass            string        // SMTP_PASS
	SMTPTLS             string        // SMTP_TLS: "starttls", "implicit" or "none" (loopback only)
	SMTPTimeout         time.Duration // SMTP_TIMEOUT
	EmailLinkBase       string        // EMAIL_LINK_BASE, else the first CLIENT_ORIGIN
	EmailVerifyPath     string        // EMAIL_VERIFY_PATH, with "{token}" once
	PasswordResetPath   string        // PASSWORD_RESET_PATH
	EmailChangePath     string        // EMAIL_CHANGE_PATH
	VerifyTokenTTL      time.Duration // VERIFY_TOKEN_TTL
	ResetTokenTTL       time.Duration // RESET_TOKEN_TTL
	EmailChangeTokenTTL time.Duration // EMAIL_CHANGE_TOKEN_TTL
	MailWorker          bool          // MAIL_WORKER
	MailPollInterval    time.Duration // MAIL_POLL_INTERVAL
	MailMaxAttempts     int           // MAIL_MAX_ATTEMPTS
	MailRetention       time.Duration // MAIL_RETENTION
	MailTemplatesDir    string        // MAIL_TEMPLATES_DIR

	EmailVerification    string        // EMAIL_VERIFICATION: "off", "optional" or "required"
	MailCooldown         time.Duration // MAIL_COOLDOWN: per address and kind
	MailMaxPerHour       int           // MAIL_MAX_PER_HOUR: per address and kind
	IPMailPerMinute      int           // IP_MAIL_PER_MINUTE
	IPMailBurst          int           // IP_MAIL_BURST
	RegisterHideExisting bool          // REGISTER_HIDE_EXISTING
	AccountSelfDelete    bool          // ACCOUNT_SELF_DELETE

	LogLevel  slog.Level // LOG_LEVEL
	LogFormat string     // LOG_FORMAT: "json" or "text"
}

// MailOn reports whether mails are sent (MAIL_TRANSPORT is not off).
func (c Config) MailOn() bool { return c.MailTransport != "" && c.MailTransport != "off" }

// Load reads every setting through getenv, applies defaults, validates everything and returns
// all problems joined, one per line, each naming its variable. Unknown variables are ignored;
// an empty value counts as unset.
func Load(getenv func(string) string) (Config, error) {
	l := newLoader(getenv)
	var c Config

	c.DatabaseURL = l.databaseURL()
	c.DBTimeout, _ = l.duration("DB_TIMEOUT")
	if n, ok := l.int("DB_MAX_CONNS"); ok {
		c.DBMaxConns = int32(n)
	}
	c.MigrateOnStart = l.bool("MIGRATE_ON_START")
	if c.MigrateDatabaseURL = l.value("MIGRATE_DATABASE_URL"); c.MigrateDatabaseURL != "" {
		// Never include url.Parse's error: it quotes the URL, password and all.
		u, err := url.Parse(c.MigrateDatabaseURL)
		if err != nil || u.Opaque != "" || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			l.problemf("MIGRATE_DATABASE_URL", "%s is not a postgres:// or postgresql:// URL", l.show("MIGRATE_DATABASE_URL", c.MigrateDatabaseURL))
		}
	}
	c.DBStartupWait, _ = l.duration("DB_STARTUP_WAIT")

	c.ListenAddr = l.listenAddr()
	c.ClientOrigins = l.origins("CLIENT_ORIGIN")
	c.TrustedProxies = l.prefixes("TRUSTED_PROXIES")
	c.RequestTimeout, _ = l.duration("REQUEST_TIMEOUT")
	c.RefusalDelay, _ = l.duration("REFUSAL_DELAY")
	c.ShutdownTimeout, _ = l.duration("SHUTDOWN_TIMEOUT")
	c.ShutdownDelay, _ = l.duration("SHUTDOWN_DELAY")
	// /metrics is on the API port only when asked for by name: an empty
	// METRICS_ADDR is the loopback default, like any unset variable.
	if c.MetricsAddr = l.value("METRICS_ADDR"); c.MetricsAddr != "main" && c.MetricsAddr != "off" {
		if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil || port == "" {
			l.problemf("METRICS_ADDR", "%s is not host:port (e.g. 127.0.0.1:9090 or :9090), main or off", l.show("METRICS_ADDR", c.MetricsAddr))
		}
	}
	if c.Pprof = l.bool("PPROF"); c.Pprof && (c.MetricsAddr == "main" || c.MetricsAddr == "off") {
		l.problemf("PPROF", "profiles are served only on a separate METRICS_ADDR listener (e.g. 127.0.0.1:9090), never on the main port")
	}

	c.AccessPrivateKey = l.required("ACCESS_TOKEN_PRIVATE_KEY", "a base64-encoded PEM private key")
	c.AccessPublicKey = l.value("ACCESS_TOKEN_PUBLIC_KEY")
	c.AccessVerifyKeys = l.list("ACCESS_TOKEN_VERIFY_KEYS")
	var accessOK, refreshOK, lifetimeOK bool
	c.AccessTTL, accessOK = l.duration("ACCESS_TOKEN_EXPIRED_IN")
	c.AccessMaxAge = c.AccessTTL
	if d, ok := l.minutes("ACCESS_TOKEN_MAXAGE"); ok {
		c.AccessMaxAge = d
	}

	c.RefreshPrivateKey = l.required("REFRESH_TOKEN_PRIVATE_KEY", "a base64-encoded PEM private key")
	c.RefreshPublicKey = l.value("REFRESH_TOKEN_PUBLIC_KEY")
	c.RefreshVerifyKeys = l.list("REFRESH_TOKEN_VERIFY_KEYS")
	c.RefreshRetiredKeys = l.list("REFRESH_TOKEN_RETIRED_KEYS")
	c.RefreshFormat = l.oneOf("REFRESH_TOKEN_FORMAT")
	c.RefreshTTL, refreshOK = l.duration("REFRESH_TOKEN_EXPIRED_IN")
	c.RefreshMaxAge = c.RefreshTTL
	if d, ok := l.minutes("REFRESH_TOKEN_MAXAGE"); ok {
		c.RefreshMaxAge = d
	}
	if accessOK && refreshOK && c.RefreshTTL <= c.AccessTTL {
		l.problemf("REFRESH_TOKEN_EXPIRED_IN", "%s must be longer than ACCESS_TOKEN_EXPIRED_IN (%s)",
			formatDuration(c.RefreshTTL), formatDuration(c.AccessTTL))
	}

	c.SessionLifetime, lifetimeOK = l.duration("SESSION_MAX_LIFETIME")
	if lifetimeOK && refreshOK && c.SessionLifetime < c.RefreshTTL {
		l.problemf("SESSION_MAX_LIFETIME", "%s must be at least REFRESH_TOKEN_EXPIRED_IN (%s)",
			formatDuration(c.SessionLifetime), formatDuration(c.RefreshTTL))
	}
	c.ReuseGrace, _ = l.duration("REFRESH_REUSE_GRACE")
	c.Issuer = l.value("TOKEN_ISSUER")
	c.Audience = l.value("TOKEN_AUDIENCE")
	c.Leeway, _ = l.duration("TOKEN_LEEWAY")

	c.CookieSecure = l.bool("COOKIE_SECURE")
	c.CookieDomain = l.cookieDomain("COOKIE_DOMAIN")

	c.BcryptCost, _ = l.int("BCRYPT_COST")
	c.HashConcurrency = min(runtime.GOMAXPROCS(0), maxHashConcurrency) // respects a container CPU limit
	if n, ok := l.int("HASH_CONCURRENCY"); ok {
		c.HashConcurrency = n
	}
	c.HashQueue, _ = l.int("HASH_QUEUE")
	c.HashWait, _ = l.duration("HASH_WAIT")
	c.HashNice, _ = l.int("HASH_NICE")

	c.LoginFailureThreshold, _ = l.int("LOGIN_FAILURE_THRESHOLD")
	c.LoginLockBase, _ = l.duration("LOGIN_LOCK_BASE")
	c.LoginLockMax, _ = l.duration("LOGIN_LOCK_MAX")
	if c.LoginLockMax < c.LoginLockBase {
		l.problemf("LOGIN_LOCK_MAX", "must be at least LOGIN_LOCK_BASE")
	}
	c.IPLoginPerMinute, _ = l.int("IP_LOGIN_PER_MINUTE")
	c.IPLoginBurst, _ = l.int("IP_LOGIN_BURST")
	c.IPRegisterPerMinute, _ = l.int("IP_REGISTER_PER_MINUTE")
	c.IPRegisterBurst, _ = l.int("IP_REGISTER_BURST")
	c.IPRefreshPerMinute, _ = l.int("IP_REFRESH_PER_MINUTE")
	c.IPRefreshBurst, _ = l.int("IP_REFRESH_BURST")
	c.IPv6Prefix, _ = l.int("IP_V6_PREFIX")

	l.mail(&c)

	c.LogLevel = l.logLevel("LOG_LEVEL")
	c.LogFormat = l.oneOf("LOG_FORMAT")

	if err := errors.Join(l.problems...); err != nil {
		return Config{}, err
	}
	return c, nil
}
