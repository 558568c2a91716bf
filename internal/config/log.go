package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

// LogValue implements slog.LogValuer. Keys are shown only as "[set]" or "[unset]" (verification
// keys as a count) and the database URL with its password and unknown query values replaced.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("database_url", redactDatabaseURL(c.DatabaseURL)),
		slog.String("db_timeout", formatDuration(c.DBTimeout)),
		slog.String("db_startup_wait", formatDuration(c.DBStartupWait)),
		slog.String("migrate_database_url", redactDatabaseURL(c.MigrateDatabaseURL)),
		slog.Int("db_max_conns", int(c.DBMaxConns)),
		slog.Bool("migrate_on_start", c.MigrateOnStart),
		slog.String("listen_addr", c.ListenAddr),
		slog.String("client_origins", strings.Join(c.ClientOrigins, ",")),
		slog.String("trusted_proxies", joinPrefixes(c)),
		slog.String("request_timeout", formatDuration(c.RequestTimeout)),
		slog.String("refusal_delay", formatDuration(c.RefusalDelay)),
		slog.String("shutdown_timeout", formatDuration(c.ShutdownTimeout)),
		slog.String("shutdown_delay", formatDuration(c.ShutdownDelay)),
		slog.String("metrics_addr", c.MetricsAddr),
		slog.Bool("pprof", c.Pprof),
		slog.String("access_private_key", setOrUnset(c.AccessPrivateKey)),
		slog.String("access_public_key", setOrUnset(c.AccessPublicKey)),
		slog.Int("access_verify_keys", len(c.AccessVerifyKeys)),
		slog.String("access_ttl", formatDuration(c.AccessTTL)),
		slog.String("access_max_age", formatDuration(c.AccessMaxAge)),
		slog.String("refresh_private_key", setOrUnset(c.RefreshPrivateKey)),
		slog.String("refresh_public_key", setOrUnset(c.RefreshPublicKey)),
		slog.Int("refresh_verify_keys", len(c.RefreshVerifyKeys)),
		slog.Int("refresh_retired_keys", len(c.RefreshRetiredKeys)),
		slog.String("refresh_format", c.RefreshFormat),
		slog.String("refresh_ttl", formatDuration(c.RefreshTTL)),
		slog.String("refresh_max_age", formatDuration(c.RefreshMaxAge)),
		slog.String("session_lifetime", formatDuration(c.SessionLifetime)),
		slog.String("reuse_grace", formatDuration(c.ReuseGrace)),
		slog.String("issuer", c.Issuer),
		slog.String("audience", c.Audience),
		slog.String("leeway", formatDuration(c.Leeway)),
		slog.Bool("cookie_secure", c.CookieSecure),
		slog.String("cookie_domain", c.CookieDomain),
		slog.Int("bcrypt_cost", c.BcryptCost),
		slog.Int("hash_concurrency", c.HashConcurrency),
		slog.Int("hash_queue", c.HashQueue),
		slog.String("hash_wait", formatDuration(c.HashWait)),
		slog.Int("hash_nice", c.HashNice),
		slog.Int("login_failure_threshold", c.LoginFailureThreshold),
		slog.String("login_lock_base", formatDuration(c.LoginLockBase)),
		slog.String("login_lock_max", formatDuration(c.LoginLockMax)),
		slog.String("ip_login", fmt.Sprintf("%d/min burst %d", c.IPLoginPerMinute, c.IPLoginBurst)),
		slog.String("ip_register", fmt.Sprintf("%d/min burst %d", c.IPRegisterPerMinute, c.IPRegisterBurst)),
		slog.String("ip_refresh", fmt.Sprintf("%d/min burst %d", c.IPRefreshPerMinute, c.IPRefreshBurst)),
		slog.Int("ip_v6_prefix", c.IPv6Prefix),
		slog.String("mail_transport", c.MailTransport),
		slog.String("email_from", c.EmailFrom),
		slog.String("email_from_name", c.EmailFromName),
		slog.String("smtp_host", c.SMTPHost),
		slog.Int("smtp_port", c.SMTPPort),
		slog.String("smtp_user", setOrUnset(c.SMTPUser)),
		slog.String("smtp_pass", setOrUnset(c.SMTPPass)),
		slog.String("smtp_tls", c.SMTPTLS),
		slog.String("smtp_timeout", formatDuration(c.SMTPTimeout)),
		slog.String("email_link_base", c.EmailLinkBase),
		slog.String("email_verify_path", c.EmailVerifyPath),
		slog.String("password_reset_path", c.PasswordResetPath),
		slog.String("email_change_path", c.EmailChangePath),
		slog.String("verify_token_ttl", formatDuration(c.VerifyTokenTTL)),
		slog.String("reset_token_ttl", formatDuration(c.ResetTokenTTL)),
		slog.String("email_change_token_ttl", formatDuration(c.EmailChangeTokenTTL)),
		slog.Bool("mail_worker", c.MailWorker),
		slog.String("mail_poll_interval", formatDuration(c.MailPollInterval)),
		slog.Int("mail_max_attempts", c.MailMaxAttempts),
		slog.String("mail_retention", formatDuration(c.MailRetention)),
		slog.String("mail_templates_dir", c.MailTemplatesDir),
		slog.String("email_verification", c.EmailVerification),
		slog.String("mail_cooldown", formatDuration(c.MailCooldown)),
		slog.Int("mail_max_per_hour", c.MailMaxPerHour),
		slog.String("ip_mail", fmt.Sprintf("%d/min burst %d", c.IPMailPerMinute, c.IPMailBurst)),
		slog.Bool("register_hide_existing", c.RegisterHideExisting),
		slog.Bool("account_self_delete", c.AccountSelfDelete),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("log_format", c.LogFormat),
	)
}

// String returns the redacted form of LogValue, so that printing a Config with fmt's %v or %+v
// cannot leak a secret.
func (c Config) String() string {
	return c.LogValue().String()
}

// GoString is String for fmt's %#v.
func (c Config) GoString() string {
	return "config.Config" + c.String()
}

func setOrUnset(s string) string {
	if s == "" {
		return "[unset]"
	}
	return "[set]"
}

func joinPrefixes(c Config) string {
	s := make([]string, len(c.TrustedProxies))
	for i, p := range c.TrustedProxies {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// isSafeQueryParam reports whether a database URL parameter is shown in logs; the values of all
// others (password, sslpassword, anything unknown) are replaced.
func isSafeQueryParam(name string) bool {
	switch name {
	case "host", "port", "dbname", "user", "sslmode", "sslrootcert", "sslcert", "sslkey",
		"application_name", "connect_timeout", "target_session_attrs", "search_path",
		"pool_max_conns", "pool_min_conns", "pool_max_conn_lifetime", "pool_max_conn_idle_time",
		"pool_health_check_period", "statement_cache_capacity", "default_query_exec_mode":
		return true
	}
	return false
}

// redactDatabaseURL replaces the password, fragment and the values of unknown query
// parameters. Anything that is not a plain postgres URL is hidden entirely.
func redactDatabaseURL(s string) string {
	if s == "" {
		return "[unset]"
	}
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "[redacted]"
	}
	u.Fragment, u.RawFragment = "", ""
	if u.RawQuery != "" {
		q := u.Query() // malformed pairs are dropped, never shown
		for name := range q {
			if !isSafeQueryParam(name) {
				q[name] = []string{"xxxxx"}
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
