package config

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Variable documents one environment variable that Load reads.
//
// Default is the literal value Load uses when the variable is unset or empty. A default in
// parentheses, such as "(number of CPUs)", describes a value computed at load time, and an empty
// Default means there is none. Secret variables are never echoed in errors or logs, and each
// may be read from the file that NAME_FILE names instead (FileSuffix).
type Variable struct {
	Name        string
	Default     string
	Description string
	Secret      bool
}

// Variables lists every variable Load reads, in the order of the README's configuration table.
// The defaults and bounds described here are the ones Load applies.
func Variables() []Variable {
	rows := settings(new(Config))
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

	to     target // the field the variable is read into; nil with partOf
	log    string // LogValue's key; "" is the lower-case name
	partOf string // the row whose reader reads this variable too, into its own field
}

// logKey is the row's key in LogValue.
func (s setting) logKey() string {
	if s.log != "" {
		return s.log
	}
	return strings.ToLower(s.name)
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

// settings lists every variable Load reads, in the order of the README's configuration table,
// each bound to its field of c (see target). Load reads the rows in this order.
func settings(c *Config) []setting {
	return []setting{
		// Database.
		{name: "DATABASE_URL", to: redacted(&c.DatabaseURL, (*loader).databaseURL, showDatabaseURL), secret: true, desc: "PostgreSQL URL (postgres://user:password@host:port/db?sslmode=...); when set, the POSTGRES_* variables are ignored. For failover it may name several hosts, `postgres://user:password@host1:5432,host2:5432/db?target_session_attrs=read-write`: each new connection goes to the one that takes writes (docs/operations.md, Failover)"},
		{name: "POSTGRES_HOST", partOf: "DATABASE_URL", desc: "PostgreSQL host name or IP address, or a Unix socket directory starting with /; required unless DATABASE_URL is set"},
		{name: "POSTGRES_PORT", partOf: "DATABASE_URL", def: "5432", ints: between(1, 65535), desc: "PostgreSQL port, {range}"},
		{name: "POSTGRES_USER", partOf: "DATABASE_URL", desc: "PostgreSQL user name"},
		{name: "POSTGRES_PASSWORD", partOf: "DATABASE_URL", secret: true, desc: "PostgreSQL password"},
		{name: "POSTGRES_DB", partOf: "DATABASE_URL", desc: "PostgreSQL database name"},
		{name: "DB_TIMEOUT", to: durationVar(&c.DBTimeout), def: "3s", durations: between(100*time.Millisecond, time.Minute), desc: "timeout of each database query, {range}"},
		{name: "DB_MAX_CONNS", to: bind(&c.DBMaxConns, (*loader).int32, func(n int32) slog.Value { return slog.IntValue(int(n)) }), def: "16", ints: between(1, 1000), desc: "maximum open database connections, {range}"},
		{name: "MIGRATE_ON_START", to: boolVar(&c.MigrateOnStart), def: "true", desc: "apply pending database migrations when the server starts (true or false)"},
		{name: "MIGRATE_DATABASE_URL", to: redacted(&c.MigrateDatabaseURL, (*loader).postgresURL, showDatabaseURL), secret: true, desc: "PostgreSQL URL for migrations (authd migrate and MIGRATE_ON_START), for when DATABASE_URL goes through a transaction pooler such as PgBouncer; empty uses DATABASE_URL"},
		{name: "ADOPT_TRUST_VERIFIED", to: boolVar(&c.AdoptTrustVerified), def: "false", desc: "trust the verified flag of a database adopted from the tutorial (true or false); false imports every adopted user unverified, since the tutorial marks users verified without proving their address"},
		{name: "DB_STARTUP_WAIT", to: durationVar(&c.DBStartupWait), def: "60s", durations: between(0, time.Hour), desc: "how long serve keeps retrying, with back-off, to reach the database at start before it exits; /readyz answers 503 meanwhile, {range} (0: one try)"},

		// HTTP server.
		{name: "LISTEN_HOST", to: bind(&c.ListenAddr, (*loader).listenAddr, slog.StringValue), log: "listen_addr", desc: "address to listen on (host name or IP); empty means every interface"},
		{name: "PORT", partOf: "LISTEN_HOST", def: "8000", ints: between(0, 65535), desc: "TCP port to listen on, {range} (0 picks a free port)"},
		{name: "CLIENT_ORIGIN", to: bind(&c.ClientOrigins, (*loader).origins, showJoined), log: "client_origins", desc: "comma-separated browser origins allowed by CORS, exactly scheme://host[:port] (no path, no *)"},
		{name: "TRUSTED_PROXIES", to: bind(&c.TrustedProxies, (*loader).prefixes, showPrefixes), desc: "comma-separated proxy IPs or CIDRs whose X-Forwarded-For is trusted; empty trusts none"},
		{name: "REQUEST_TIMEOUT", to: durationVar(&c.RequestTimeout), def: "10s", durations: between(time.Second, 10*time.Minute), desc: "deadline of each request, {range}"},
		{name: "REFUSAL_DELAY", to: durationVar(&c.RefusalDelay), def: "1s", durations: between(0, 10*time.Second), desc: "how long a 429 or a 503 of a full hashing queue is held before it is sent, at most its Retry-After and at most 4,096 at once (beyond that at once, with Connection: close), {range}: a client that ignores Retry-After is paced instead of flooding (0: at once)"},
		{name: "SHUTDOWN_TIMEOUT", to: durationVar(&c.ShutdownTimeout), def: "20s", durations: between(time.Second, 10*time.Minute), desc: "how long in-flight requests may drain on shutdown, {range}"},
		{name: "SHUTDOWN_DELAY", to: durationVar(&c.ShutdownDelay), def: "0s", durations: between(0, 5*time.Minute), desc: "on SIGTERM, how long /readyz answers 503 while requests are still served, before the listener closes (for load balancers), {range}"},
		{name: "PPROF", to: boolVar(&c.Pprof), def: "false", desc: "serve Go's /debug/pprof/ profiles on the METRICS_ADDR listener (not with main or off); keep that address private"},
		{name: "METRICS_ADDR", to: bind(&c.MetricsAddr, (*loader).metricsAddr, slog.StringValue), def: "127.0.0.1:9090", desc: "where to serve /metrics (Prometheus): host:port for a listener of its own (:9090 listens on every interface: keep it off the public network), main for the API port (public unless a proxy blocks it), off for nowhere"},

		// Tokens and sessions.
		{name: "ACCESS_TOKEN_PRIVATE_KEY", to: keyVar(&c.AccessPrivateKey, true), log: "access_private_key", secret: true, desc: "base64-encoded PEM private key that signs access tokens; required"},
		{name: "ACCESS_TOKEN_PUBLIC_KEY", to: keyVar(&c.AccessPublicKey, false), log: "access_public_key", secret: true, desc: "base64-encoded PEM public key of ACCESS_TOKEN_PRIVATE_KEY; optional, derived from the private key"},
		{name: "ACCESS_TOKEN_VERIFY_KEYS", to: keysVar(&c.AccessVerifyKeys), log: "access_verify_keys", secret: true, desc: "comma-separated base64-encoded PEM public keys that still verify access tokens (key rotation)"},
		{name: "ACCESS_TOKEN_EXPIRED_IN", to: durationVar(&c.AccessTTL), log: "access_ttl", def: "15m", durations: between(10*time.Second, 24*time.Hour), desc: "access token lifetime (Go duration), {range}"},
		{name: "ACCESS_TOKEN_MAXAGE", to: minutesVar(&c.AccessMaxAge), log: "access_max_age", def: "(ACCESS_TOKEN_EXPIRED_IN)", ints: between(1, maxMaxAgeMinutes), desc: "access_token and logged_in cookie Max-Age in whole minutes, {range}"},
		{name: "ACCESS_TOKEN_ROLE_CLAIM", to: boolVar(&c.AccessTokenRoleClaim), log: "access_role_claim", def: "false", desc: "put the user's role (user or admin) in access tokens as the role claim; a role change reaches a token only at its session's next refresh (up to ACCESS_TOKEN_EXPIRED_IN late), and each refresh reads the role in its rotation statement"},
		{name: "REFRESH_TOKEN_PRIVATE_KEY", to: keyVar(&c.RefreshPrivateKey, true), log: "refresh_private_key", secret: true, desc: "base64-encoded PEM private key that signs refresh tokens; required, different from the access key"},
		{name: "REFRESH_TOKEN_PUBLIC_KEY", to: keyVar(&c.RefreshPublicKey, false), log: "refresh_public_key", secret: true, desc: "base64-encoded PEM public key of REFRESH_TOKEN_PRIVATE_KEY; optional, derived from the private key"},
		{name: "REFRESH_TOKEN_VERIFY_KEYS", to: keysVar(&c.RefreshVerifyKeys), log: "refresh_verify_keys", secret: true, desc: "comma-separated base64-encoded PEM public keys that still verify refresh tokens (key rotation)"},
		{name: "REFRESH_TOKEN_RETIRED_KEYS", to: keysVar(&c.RefreshRetiredKeys), log: "refresh_retired_keys", secret: true, desc: "comma-separated base64-encoded PEM private keys that signed refresh tokens before REFRESH_TOKEN_PRIVATE_KEY: their tokens still verify (key rotation)"},
		{name: "REFRESH_TOKEN_FORMAT", to: choiceVar(&c.RefreshFormat), log: "refresh_format", def: "mac", choices: []string{"mac", "jwt"}, desc: "form of new refresh tokens: mac (an HMAC keyed from REFRESH_TOKEN_PRIVATE_KEY, no signature) or jwt (signed, as releases before 2026-12 made them; for a rolling upgrade from one); both always verify"},
		{name: "REFRESH_TOKEN_EXPIRED_IN", to: durationVar(&c.RefreshTTL), log: "refresh_ttl", def: "60m", durations: atLeast(time.Second), desc: "refresh token lifetime and session idle timeout (Go duration), longer than ACCESS_TOKEN_EXPIRED_IN"},
		{name: "REFRESH_TOKEN_MAXAGE", to: minutesVar(&c.RefreshMaxAge), log: "refresh_max_age", def: "(REFRESH_TOKEN_EXPIRED_IN)", ints: between(1, maxMaxAgeMinutes), desc: "refresh_token cookie Max-Age in whole minutes, {range}"},
		{name: "SESSION_MAX_LIFETIME", to: durationVar(&c.SessionLifetime), log: "session_lifetime", def: "168h", durations: atLeast(time.Second), desc: "absolute session lifetime that refreshing cannot extend (Go duration), at least REFRESH_TOKEN_EXPIRED_IN"},
		{name: "REFRESH_REUSE_GRACE", to: durationVar(&c.ReuseGrace), log: "reuse_grace", def: "10s", durations: between(0, time.Minute), desc: "how long an already rotated refresh token still returns its successor, {range}"},
		{name: "TOKEN_ISSUER", to: stringVar(&c.Issuer), log: "issuer", def: "authd", desc: "iss claim of issued tokens, required in verified tokens"},
		{name: "TOKEN_AUDIENCE", to: stringVar(&c.Audience), log: "audience", def: "authd", desc: "aud claim of issued tokens, required in verified tokens"},
		{name: "TOKEN_LEEWAY", to: durationVar(&c.Leeway), log: "leeway", def: "5s", durations: between(0, 30*time.Second), desc: "clock skew allowed when checking exp, nbf and iat, {range}"},

		// Cookies.
		{name: "COOKIE_SECURE", to: boolVar(&c.CookieSecure), def: "true", desc: "set the Secure attribute on cookies; turn off only for local http development"},
		{name: "COOKIE_DOMAIN", to: bind(&c.CookieDomain, (*loader).cookieDomain, slog.StringValue), desc: "Domain attribute of cookies; empty sends none (host-only cookies)"},

		// Passwords.
		{name: "BCRYPT_COST", to: intVar(&c.BcryptCost), def: "12", ints: between(10, 16), desc: "bcrypt cost of new password hashes, {range}"},
		{name: "HASH_CONCURRENCY", to: intVar(&c.HashConcurrency), def: fmt.Sprintf("(GOMAXPROCS: usable CPUs, at most %d)", maxHashConcurrency), ints: between(1, maxHashConcurrency), desc: "password hashes computed at once, {range}"},
		{name: "HASH_QUEUE", to: intVar(&c.HashQueue), def: "64", ints: between(0, 10000), desc: "most requests waiting for a hashing slot, {range}; fewer wait when their hashes could not end in time (see HASH_WAIT)"},
		{name: "HASH_KNOWN_DEVICE_SHARE", to: bind(&c.HashKnownDeviceShare, (*loader).share, slog.Float64Value), def: "0.25", desc: "share of the hashing slots, 0 to 0.9, rounded down and never all, that only logins from a device known for their account (the device_id cookie) may use (with the default, none below 4 slots); those logins also wait ahead of every other, reserved slots or not: a credential-stuffing flood from unknown devices cannot take the hashing from the accounts' owners"},
		{name: "HASH_WAIT", to: durationVar(&c.HashWait), def: "2s", durations: between(time.Millisecond, time.Minute), desc: "time given to a caller without a deadline, {range}: a request (which has REQUEST_TIMEOUT) waits for a hashing slot only if its hash is estimated to end within nine tenths of the time it has left, and otherwise gets 503 at once"},
		{name: "HASH_NICE", to: intVar(&c.HashNice), def: "10", ints: between(0, 19), desc: "Linux nice value of the threads that compute hashes, {range}: other requests get the CPU first; 0 hashes at normal priority"},
		{name: "PASSWORD_MIN_LENGTH", to: intVar(&c.PasswordMinLength), def: "8", ints: between(8, 72), desc: "least length in bytes of a new password (registration, reset, change, authd user), {range}; NIST SP 800-63B asks 15 where the password is the only factor"},
		{name: "PASSWORD_BLOCKLIST", to: boolVar(&c.PasswordBlocklist), def: "false", desc: "refuse a new password that is one of the few thousand most common ones shipped in the binary (from the zxcvbn list, MIT), whatever its case, with 400 \"password is too common\"; off by default only because the tutorial's own examples register password123"},
		{name: "PASSWORD_BREACH_CHECK", to: boolVar(&c.PasswordBreachCheck), def: "false", desc: "also refuse a new password found in Pwned Passwords, by a k-anonymity range query to PASSWORD_BREACH_URL (only the first 5 hex digits of its SHA-1 leave the process); needs egress; without an answer within PASSWORD_BREACH_TIMEOUT the password is accepted and a warning logged"},
		{name: "PASSWORD_BREACH_URL", to: bind(&c.PasswordBreachURL, (*loader).rangeURL, slog.StringValue), def: "https://api.pwnedpasswords.com/range/", desc: "range API that the 5 hex digits are appended to, ending in /: https, or http to a loopback host (a local mirror)"},
		{name: "PASSWORD_BREACH_TIMEOUT", to: durationVar(&c.PasswordBreachTimeout), def: "2s", durations: between(100*time.Millisecond, 10*time.Second), desc: "longest wait for one range query, {range}"},

		// Throttling.
		{name: "LOGIN_FAILURE_THRESHOLD", to: intVar(&c.LoginFailureThreshold), def: "5", ints: between(1, 100), desc: "consecutive failed logins for one email before it is locked, {range}"},
		{name: "LOGIN_LOCK_BASE", to: durationVar(&c.LoginLockBase), def: "1s", durations: between(100*time.Millisecond, time.Hour), desc: "first lock after the threshold; doubles with each further failure, {range}"},
		{name: "LOGIN_LOCK_MAX", to: durationVar(&c.LoginLockMax), def: "15m", durations: between(time.Second, 24*time.Hour), desc: "longest lock of one email (never permanent), {range}"},
		{name: "IP_LOGIN_PER_MINUTE", to: intVar(&c.IPLoginPerMinute), def: "30", ints: between(0, maxPerIP), desc: "logins per minute per client address after the burst; 0 turns the limit off"},
		{name: "IP_LOGIN_BURST", to: intVar(&c.IPLoginBurst), def: "10", ints: between(0, maxPerIP), desc: "logins a client address may send at once; 0 turns the limit off"},
		{name: "IP_REGISTER_PER_MINUTE", to: intVar(&c.IPRegisterPerMinute), def: "10", ints: between(0, maxPerIP), desc: "registrations per minute per client address after the burst; 0 turns the limit off"},
		{name: "IP_REGISTER_BURST", to: intVar(&c.IPRegisterBurst), def: "5", ints: between(0, maxPerIP), desc: "registrations a client address may send at once; 0 turns the limit off"},
		{name: "IP_REFRESH_PER_MINUTE", to: intVar(&c.IPRefreshPerMinute), def: "120", ints: between(0, maxPerIP), desc: "refreshes per minute per client address after the burst; 0 turns the limit off"},
		{name: "IP_REFRESH_BURST", to: intVar(&c.IPRefreshBurst), def: "30", ints: between(0, maxPerIP), desc: "refreshes a client address may send at once; 0 turns the limit off"},
		{name: "IP_V6_PREFIX", to: intVar(&c.IPv6Prefix), def: "64", ints: between(32, 128), desc: "IPv6 clients in one prefix of this many bits share the per-address limits (one site usually has a /64 or more), {range}"},
		{name: "IP_V6_SITE_PREFIX", to: intVar(&c.IPv6SitePrefix), def: "48", ints: between(0, 128), desc: "IPv6 clients in one prefix of this many bits (a site, which usually gets a /48) also share one bucket of 16 times each per-address limit, burst and rate, so a flood from many prefixes of IP_V6_PREFIX bits of one site is still limited; 0, or IP_V6_PREFIX or more, turns that level off, {range}"},

		// Mail.
		{name: "MAIL_TRANSPORT", to: choiceVar(&c.MailTransport), def: "off", choices: []string{"off", "smtp", "log"}, desc: "how mails go out: {range}; log writes each mail, links included, to the log instead, and is refused unless COOKIE_SECURE=false (development only)"},
		{name: "EMAIL_FROM", to: bind(&c.EmailFrom, (*loader).emailFrom, slog.StringValue), desc: "From address of mails (e.g. no-reply@example.com); required unless MAIL_TRANSPORT is off"},
		{name: "EMAIL_FROM_NAME", to: bind(&c.EmailFromName, (*loader).fromName, slog.StringValue), def: "authd", desc: "display name of the From address, and the product name the mails show"},
		{name: "SMTP_HOST", to: bind(&c.SMTPHost, (*loader).smtpHost, slog.StringValue), desc: "SMTP server host name or IP address; required with MAIL_TRANSPORT=smtp"},
		{name: "SMTP_PORT", to: intVar(&c.SMTPPort), def: "587", ints: between(1, 65535), desc: "SMTP server port, {range} (usually 465 with SMTP_TLS=implicit)"},
		{name: "SMTP_USER", to: redacted(&c.SMTPUser, (*loader).value, showSet), secret: true, desc: "SMTP AUTH user name, with SMTP_PASS; AUTH happens only over TLS or to a loopback host"},
		{name: "SMTP_PASS", to: redacted(&c.SMTPPass, (*loader).raw, showSet), secret: true, desc: "SMTP AUTH password, with SMTP_USER"},
		{name: "SMTP_TLS", to: choiceVar(&c.SMTPTLS), def: "starttls", choices: []string{"starttls", "implicit", "none"}, desc: "TLS to the SMTP server: {range}; starttls (required, never falling back to plain text) and implicit verify the certificate, with no way to skip that; none is refused unless SMTP_HOST is loopback"},
		{name: "SMTP_TIMEOUT", to: durationVar(&c.SMTPTimeout), def: "10s", durations: between(time.Second, 5*time.Minute), desc: "longest delivery of one mail, from connecting to QUIT, {range}"},
		{name: "EMAIL_LINK_BASE", to: bind(&c.EmailLinkBase, (*loader).linkBase, slog.StringValue), def: "(the first CLIENT_ORIGIN)", desc: "scheme://host[:port] the links in mails start with; mail needs it or a CLIENT_ORIGIN"},
		{name: "EMAIL_VERIFY_PATH", to: bind(&c.EmailVerifyPath, (*loader).linkPath, slog.StringValue), def: "/verifyemail/{token}", desc: "rest of the email verification link after EMAIL_LINK_BASE: starts with / and holds the token placeholder once (a query or #fragment may hold it)"},
		{name: "PASSWORD_RESET_PATH", to: bind(&c.PasswordResetPath, (*loader).linkPath, slog.StringValue), def: "/forgotPassword/{token}", desc: "rest of the password reset link, as EMAIL_VERIFY_PATH (a #fragment keeps the token out of web server logs)"},
		{name: "EMAIL_CHANGE_PATH", to: bind(&c.EmailChangePath, (*loader).linkPath, slog.StringValue), def: "/confirm-email/{token}", desc: "rest of the link that confirms a new email address, as EMAIL_VERIFY_PATH"},
		{name: "FORGOT_PASSWORD_PATH", to: bind(&c.ForgotPasswordPath, (*loader).pagePath, slog.StringValue), def: "/forgotPassword", desc: "path after EMAIL_LINK_BASE of the frontend's forgot-password page, which the new-sign-in mail links to: starts with / and holds no placeholder"},
		{name: "VERIFY_TOKEN_TTL", to: durationVar(&c.VerifyTokenTTL), def: "24h", durations: between(5*time.Minute, 7*24*time.Hour), desc: "lifetime of an email verification link, {range}"},
		{name: "RESET_TOKEN_TTL", to: durationVar(&c.ResetTokenTTL), def: "15m", durations: between(5*time.Minute, 24*time.Hour), desc: "lifetime of a password reset link, {range}; the mail's subject states it"},
		{name: "EMAIL_CHANGE_TOKEN_TTL", to: durationVar(&c.EmailChangeTokenTTL), def: "1h", durations: between(5*time.Minute, 24*time.Hour), desc: "lifetime of a link that confirms a new email address, {range}"},
		{name: "MAIL_WORKER", to: boolVar(&c.MailWorker), def: "true", desc: "send queued mails from this process (true or false); any replica may send, each mail once"},
		{name: "MAIL_POLL_INTERVAL", to: durationVar(&c.MailPollInterval), def: "5s", durations: between(100*time.Millisecond, 10*time.Minute), desc: "how often the sender looks for due mails besides waking on LISTEN, {range} (behind PgBouncer in transaction mode polling is all there is)"},
		{name: "MAIL_MAX_ATTEMPTS", to: intVar(&c.MailMaxAttempts), def: "8", ints: between(1, 100), desc: "delivery attempts of one mail before it is marked failed, {range}; waits double from 10s up to 1h"},
		{name: "MAIL_RETENTION", to: durationVar(&c.MailRetention), def: "168h", durations: between(time.Hour, 366*24*time.Hour), desc: "how long sent mails stay in the outbox (failed ones stay 30 days), {range}"},
		{name: "MAIL_TEMPLATES_DIR", to: stringVar(&c.MailTemplatesDir), desc: "directory of mail templates that replace the built-in ones of the same file names; parsed at start-up, and a broken one stops it"},
		{name: "EMAIL_VERIFICATION", to: choiceVar(&c.EmailVerification), def: "off", choices: []string{"off", "optional", "required"}, desc: "email verification: {range}; optional mails a link at registration, required also refuses logins until the address is verified; both need mail on"},
		{name: "MAIL_COOLDOWN", to: durationVar(&c.MailCooldown), def: "60s", durations: between(0, time.Hour), desc: "least time between two mails of one kind to one address, {range}"},
		{name: "MAIL_MAX_PER_HOUR", to: intVar(&c.MailMaxPerHour), def: "5", ints: between(1, 1000), desc: "most mails of one kind to one address per hour, {range}"},
		{name: "NEW_DEVICE_MAIL", to: boolVar(&c.NewDeviceMail), def: "true", desc: "mail the owner at the first sign-in from a device (a browser's device_id cookie) new for the account, except the account's first device ever; needs mail on, and counts against MAIL_COOLDOWN and MAIL_MAX_PER_HOUR (a withheld mail leaves the device unknown)"},
		{name: "IP_MAIL_PER_MINUTE", to: intVar(&c.IPMailPerMinute), def: "5", ints: between(0, maxPerIP), desc: "mail-sending requests (forgot password, resend, email change) per minute per client address after the burst, and, in buckets of their own, uses of a mailed link (verify, reset, confirm an email change); 0 turns the limits off"},
		{name: "IP_MAIL_BURST", to: intVar(&c.IPMailBurst), def: "5", ints: between(0, maxPerIP), desc: "mail-sending requests a client address may send at once, and uses of a mailed link; 0 turns the limits off"},
		{name: "REGISTER_HIDE_EXISTING", to: boolVar(&c.RegisterHideExisting), def: "false", desc: "answer a registration with a taken email like a new one (and mail the owner) instead of 409, so addresses cannot be probed; login then needs a verified address (an unverified account's right password is answered like a wrong one)"},
		{name: "ACCOUNT_SELF_DELETE", to: boolVar(&c.AccountSelfDelete), def: "false", desc: "let users delete their own account (DELETE /api/users/me)"},

		// Two-factor authentication.
		{name: "MFA_ENCRYPTION_KEYS", to: redacted(&c.MFAEncryptionKeys, (*loader).raw, showSet), secret: true, desc: "comma-separated ID:KEY entries (KEY: 32 bytes in base64; authd keygen prints one) that encrypt the TOTP secrets with AES-256-GCM: the first encrypts, the others still decrypt (key rotation); never a JWT key; empty turns two-factor enrolment off"},
		{name: "MFA_ISSUER", to: stringVar(&c.MFAIssuer), def: "(EMAIL_FROM_NAME)", desc: "issuer that authenticator apps show for the TOTP factor (in the otpauth:// URI)"},

		// Webhooks.
		{name: "WEBHOOKS_FILE", to: stringVar(&c.WebhooksFile), desc: "path of a JSON file (mount it from a Kubernetes Secret) of the endpoints that get security events as signed webhooks, with their event filters and secrets (docs/operations.md, Webhooks); read at start-up, and a bad one stops it; empty sends none"},
		{name: "WEBHOOK_TIMEOUT", to: durationVar(&c.WebhookTimeout), def: "5s", durations: between(time.Second, time.Minute), desc: "longest webhook POST, from connecting to the end of the answer, {range}; a slower one is retried"},
		{name: "WEBHOOK_POLL_INTERVAL", to: durationVar(&c.WebhookPollInterval), def: "5s", durations: between(100*time.Millisecond, 10*time.Minute), desc: "how often the webhook sender looks for due deliveries besides waking on LISTEN, {range}"},

		// Security events.
		{name: "EVENT_RETENTION", to: durationVar(&c.EventRetention), def: "2160h", durations: between(time.Hour, 3660*24*time.Hour), desc: "how long security events are kept (GET /api/users/me/security-events, authd events), {range}; the periodic clean-up deletes older ones, with any webhook delivery of theirs still pending"},

		// Passkeys (WebAuthn).
		{name: "WEBAUTHN_RP_ID", to: stringVar(&c.WebAuthnRPID), def: "(host of the first CLIENT_ORIGIN)", desc: "the WebAuthn relying party ID: the domain passkeys are bound to (every WEBAUTHN_ORIGINS host is it or a subdomain); off turns passkeys off"},
		{name: "WEBAUTHN_RP_NAME", to: stringVar(&c.WebAuthnRPName), def: "(MFA_ISSUER)", desc: "the relying party name browsers show when a passkey is made"},
		{name: "WEBAUTHN_ORIGINS", to: bind(&c.WebAuthnOrigins, (*loader).origins, showJoined), def: "(CLIENT_ORIGIN)", desc: "comma-separated origins of the pages that run passkey ceremonies, exactly scheme://host[:port]; an assertion from any other is refused"},
		{name: "WEBAUTHN_COUNTER_REGRESSION", to: choiceVar(&c.WebAuthnCounterRegression), def: "refuse", choices: []string{"refuse", "record"}, desc: "a passkey assertion whose signature counter did not go up (a cloned authenticator?) is counted and evented, and then: {range}"},

		// Logging.
		{name: "LOG_LEVEL", to: bind(&c.LogLevel, (*loader).logLevel, showLevel), def: "info", choices: []string{"debug", "info", "warn", "error"}, desc: "minimum log level: {range}"},
		{name: "LOG_FORMAT", to: choiceVar(&c.LogFormat), def: "json", choices: []string{"json", "text"}, desc: "log format: {range}"},
	}
}
