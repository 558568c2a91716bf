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
	"strings"
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

	BcryptCost      int // BCRYPT_COST
	HashConcurrency int // HASH_CONCURRENCY
	HashQueue       int // HASH_QUEUE
	// HashKnownDeviceShare is HASH_KNOWN_DEVICE_SHARE (ReservedHashSlots).
	HashKnownDeviceShare float64
	HashWait             time.Duration // HASH_WAIT
	HashNice             int           // HASH_NICE

	PasswordMinLength     int           // PASSWORD_MIN_LENGTH: bytes
	PasswordBlocklist     bool          // PASSWORD_BLOCKLIST
	PasswordBreachCheck   bool          // PASSWORD_BREACH_CHECK
	PasswordBreachURL     string        // PASSWORD_BREACH_URL: the range API, ending in /
	PasswordBreachTimeout time.Duration // PASSWORD_BREACH_TIMEOUT

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
	IPv6SitePrefix        int           // IP_V6_SITE_PREFIX: bits that name one site, a coarser bucket

	AccessTokenRoleClaim bool // ACCESS_TOKEN_ROLE_CLAIM

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

	AdoptTrustVerified bool // ADOPT_TRUST_VERIFIED: keep a tutorial database's verified flag

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
	ForgotPasswordPath  string        // FORGOT_PASSWORD_PATH: the frontend's forgot-password page
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
	NewDeviceMail        bool          // NEW_DEVICE_MAIL
	IPMailPerMinute      int           // IP_MAIL_PER_MINUTE
	IPMailBurst          int           // IP_MAIL_BURST
	RegisterHideExisting bool          // REGISTER_HIDE_EXISTING
	AccountSelfDelete    bool          // ACCOUNT_SELF_DELETE

	MFAEncryptionKeys string // MFA_ENCRYPTION_KEYS: ID:BASE64 entries, the first seals; "" turns TOTP off
	MFAIssuer         string // MFA_ISSUER, else EMAIL_FROM_NAME

	WebhooksFile        string        // WEBHOOKS_FILE: "" sends no webhooks
	WebhookTimeout      time.Duration // WEBHOOK_TIMEOUT
	WebhookPollInterval time.Duration // WEBHOOK_POLL_INTERVAL

	EventRetention time.Duration // EVENT_RETENTION

	WebAuthnRPID              string   // WEBAUTHN_RP_ID, else the host of the first CLIENT_ORIGIN; "" with "off": no passkeys
	WebAuthnRPName            string   // WEBAUTHN_RP_NAME, else MFA_ISSUER
	WebAuthnOrigins           []string // WEBAUTHN_ORIGINS, else CLIENT_ORIGIN
	WebAuthnCounterRegression string   // WEBAUTHN_COUNTER_REGRESSION: "refuse" or "record"

	LogLevel  slog.Level // LOG_LEVEL
	LogFormat string     // LOG_FORMAT: "json" or "text"
}

// MailOn reports whether mails are sent (MAIL_TRANSPORT is not off).
func (c Config) MailOn() bool { return c.MailTransport != "" && c.MailTransport != "off" }

// MetricsMode is where /metrics is served, as METRICS_ADDR says.
type MetricsMode int

const (
	MetricsOff      MetricsMode = iota // "off": nowhere
	MetricsListener                    // host:port: a listener of its own at MetricsAddr
	MetricsMainPort                    // "main": with the API
)

// Metrics is where /metrics is served.
func (c Config) Metrics() MetricsMode { return metricsMode(c.MetricsAddr) }

func metricsMode(addr string) MetricsMode {
	switch addr {
	case "", "off":
		return MetricsOff
	case "main":
		return MetricsMainPort
	}
	return MetricsListener
}

// Load reads every setting through getenv, applies defaults, validates everything and returns
// all problems joined, one per line, each naming its variable. Unknown variables are ignored;
// an empty value counts as unset.
//
// Each row of the settings table reads its variable into its field, in the table's order;
// then derive applies the computed defaults and the rules between settings.
func Load(getenv func(string) string) (Config, error) {
	var c Config
	rows := settings(&c)
	l := newLoader(getenv, rows)
	for _, s := range rows {
		if s.to != nil {
			s.to.load(l, s.name)
		}
	}
	l.derive(&c)
	if err := errors.Join(l.problems...); err != nil {
		return Config{}, err
	}
	return c, nil
}

// derive fills the defaults computed from other settings and checks the rules between
// settings. A field whose variable was invalid holds its zero value here, and its problem is
// already reported.
func (l *loader) derive(c *Config) {
	if c.AccessMaxAge == 0 {
		c.AccessMaxAge = c.AccessTTL
	}
	if c.RefreshMaxAge == 0 {
		c.RefreshMaxAge = c.RefreshTTL
	}
	if c.AccessTTL > 0 && c.RefreshTTL > 0 && c.RefreshTTL <= c.AccessTTL {
		l.problemf("REFRESH_TOKEN_EXPIRED_IN", "%s must be longer than ACCESS_TOKEN_EXPIRED_IN (%s)",
			formatDuration(c.RefreshTTL), formatDuration(c.AccessTTL))
	}
	if c.SessionLifetime > 0 && c.RefreshTTL > 0 && c.SessionLifetime < c.RefreshTTL {
		l.problemf("SESSION_MAX_LIFETIME", "%s must be at least REFRESH_TOKEN_EXPIRED_IN (%s)",
			formatDuration(c.SessionLifetime), formatDuration(c.RefreshTTL))
	}
	if c.HashConcurrency == 0 {
		c.HashConcurrency = min(runtime.GOMAXPROCS(0), maxHashConcurrency) // respects a container CPU limit
	}
	if c.LoginLockMax < c.LoginLockBase {
		l.problemf("LOGIN_LOCK_MAX", "must be at least LOGIN_LOCK_BASE")
	}
	if c.Pprof && c.Metrics() != MetricsListener {
		l.problemf("PPROF", "profiles are served only on a separate METRICS_ADDR listener (e.g. 127.0.0.1:9090), never on the main port")
	}
	l.mailRules(c)
	l.mfaRules(c)
	l.webauthnRules(c)
}

// webauthnRules: the relying party defaults to the browser clients of
// CLIENT_ORIGIN (its ID the first one's host), and every origin a passkey
// ceremony may come from is the RP ID or a subdomain of it (WebAuthn
// §5.1.4.1: a browser refuses any other).
func (l *loader) webauthnRules(c *Config) {
	if c.WebAuthnRPName == "" {
		c.WebAuthnRPName = c.MFAIssuer
	}
	defaulted := len(c.WebAuthnOrigins) == 0
	if defaulted {
		c.WebAuthnOrigins = c.ClientOrigins
	}
	switch c.WebAuthnRPID {
	case "off":
		c.WebAuthnRPID = ""
		return
	case "":
		if len(c.WebAuthnOrigins) == 0 {
			return
		}
		u, err := url.Parse(c.WebAuthnOrigins[0])
		if err != nil {
			return
		}
		c.WebAuthnRPID = strings.ToLower(u.Hostname())
		if net.ParseIP(c.WebAuthnRPID) != nil { // an IP address cannot be an RP ID: no passkeys
			c.WebAuthnRPID, c.WebAuthnOrigins = "", nil
			return
		}
	}
	if net.ParseIP(c.WebAuthnRPID) != nil || strings.ContainsAny(c.WebAuthnRPID, ":/ *") || strings.Trim(c.WebAuthnRPID, ".") != c.WebAuthnRPID {
		l.problemf("WEBAUTHN_RP_ID", "%q is not a domain name (an IP address cannot be an RP ID; \"off\" turns passkeys off)", c.WebAuthnRPID)
		return
	}
	if len(c.WebAuthnOrigins) == 0 {
		l.problemf("WEBAUTHN_ORIGINS", "is empty, and so is CLIENT_ORIGIN: passkeys need the origins of their pages (or WEBAUTHN_RP_ID=off)")
		return
	}
	// Taken from CLIENT_ORIGIN, the origins off the RP ID are left out (a
	// browser would refuse their ceremonies anyway); given, they are errors.
	var on []string
	for _, o := range c.WebAuthnOrigins {
		u, err := url.Parse(o)
		if err != nil {
			continue // origins reported it
		}
		switch h := strings.ToLower(u.Hostname()); {
		case h == c.WebAuthnRPID || strings.HasSuffix(h, "."+c.WebAuthnRPID):
			on = append(on, o)
		case !defaulted:
			l.problemf("WEBAUTHN_ORIGINS", "%s is not on the RP ID %s or a subdomain of it (set WEBAUTHN_RP_ID, or WEBAUTHN_RP_ID=off)", o, c.WebAuthnRPID)
		}
	}
	if defaulted {
		c.WebAuthnOrigins = on
	}
	if len(c.WebAuthnOrigins) == 0 {
		l.problemf("WEBAUTHN_ORIGINS", "no origin is on the RP ID %s (set WEBAUTHN_ORIGINS, or WEBAUTHN_RP_ID=off)", c.WebAuthnRPID)
	}
}

// mfaRules: the TOTP issuer defaults to the product name of the mails, and
// the MFA encryption keys share nothing with the JWT keys.
func (l *loader) mfaRules(c *Config) {
	if c.MFAIssuer == "" {
		c.MFAIssuer = c.EmailFromName
	}
	if c.MFAIssuer == "" {
		c.MFAIssuer = "authd"
	}
	if c.MFAEncryptionKeys == "" {
		return
	}
	jwt := map[string]bool{}
	for _, k := range append([]string{c.AccessPrivateKey, c.AccessPublicKey, c.RefreshPrivateKey, c.RefreshPublicKey},
		append(append(c.AccessVerifyKeys, c.RefreshVerifyKeys...), c.RefreshRetiredKeys...)...) {
		if k != "" {
			jwt[k] = true
		}
	}
	for _, item := range strings.Split(c.MFAEncryptionKeys, ",") {
		_, key, ok := strings.Cut(strings.TrimSpace(item), ":")
		if !ok || key == "" {
			l.problemf("MFA_ENCRYPTION_KEYS", "want comma-separated ID:KEY entries (authd keygen prints one)")
			return
		}
		if jwt[key] || jwt[strings.TrimSpace(item)] {
			l.problemf("MFA_ENCRYPTION_KEYS", "must not be a JWT key")
			return
		}
	}
}
