package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// smtpEnv turns mail on over SMTP with everything it needs.
func smtpEnv() map[string]string {
	return with(minimal(), "MAIL_TRANSPORT", "smtp", "EMAIL_FROM", "no-reply@example.com", "SMTP_HOST", "smtp.example.com",
		"CLIENT_ORIGIN", "https://app.example.com,https://admin.example.com")
}

func TestLoadMail(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		check func(Config) (got, want any)
	}{
		{"smtp with defaults", smtpEnv(), func(c Config) (any, any) {
			return []any{c.MailOn(), c.MailTransport, c.SMTPHost, c.SMTPPort, c.SMTPTLS, c.SMTPTimeout, c.EmailLinkBase, c.EmailFromName},
				[]any{true, "smtp", "smtp.example.com", 587, "starttls", 10 * time.Second, "https://app.example.com", "authd"}
		}},
		{"link base given, normalised", with(smtpEnv(), "EMAIL_LINK_BASE", "HTTPS://Mail-Links.Example.com:443"), func(c Config) (any, any) {
			return c.EmailLinkBase, "https://mail-links.example.com"
		}},
		{"link base without CLIENT_ORIGIN", with(smtpEnv(), "CLIENT_ORIGIN", "", "EMAIL_LINK_BASE", "http://localhost:3000"), func(c Config) (any, any) {
			return c.EmailLinkBase, "http://localhost:3000"
		}},
		{"implicit TLS with AUTH", with(smtpEnv(), "SMTP_TLS", "Implicit", "SMTP_PORT", "465", "SMTP_USER", "authd", "SMTP_PASS", " p w "), func(c Config) (any, any) {
			return []any{c.SMTPTLS, c.SMTPPort, c.SMTPUser, c.SMTPPass}, []any{"implicit", 465, "authd", " p w "}
		}},
		{"none to 127.0.0.1", with(smtpEnv(), "SMTP_TLS", "none", "SMTP_HOST", "127.0.0.1", "SMTP_PORT", "1025"), func(c Config) (any, any) {
			return c.SMTPTLS, "none"
		}},
		{"none to localhost", with(smtpEnv(), "SMTP_TLS", "none", "SMTP_HOST", "localhost"), func(c Config) (any, any) { return c.SMTPHost, "localhost" }},
		{"none to ::1", with(smtpEnv(), "SMTP_TLS", "none", "SMTP_HOST", "::1"), func(c Config) (any, any) { return c.SMTPHost, "::1" }},
		{"log in development", with(minimal(), "MAIL_TRANSPORT", "log", "COOKIE_SECURE", "false", "EMAIL_FROM", "authd@localhost", "CLIENT_ORIGIN", "http://localhost:3000"),
			func(c Config) (any, any) { return []any{c.MailTransport, c.MailOn()}, []any{"log", true} }},
		{"mail off ignores the SMTP rules", with(minimal(), "SMTP_TLS", "none", "SMTP_HOST", "smtp.example.com"),
			func(c Config) (any, any) { return []any{c.MailOn(), c.SMTPTLS}, []any{false, "none"} }},
		{"link paths", with(smtpEnv(), "EMAIL_VERIFY_PATH", "/verify?token={token}", "PASSWORD_RESET_PATH", "/reset#{token}", "EMAIL_CHANGE_PATH", "/a/b/{token}/confirm"),
			func(c Config) (any, any) {
				return []string{c.EmailVerifyPath, c.PasswordResetPath, c.EmailChangePath}, []string{"/verify?token={token}", "/reset#{token}", "/a/b/{token}/confirm"}
			}},
		{"token lifetimes and sender tuning", with(smtpEnv(), "VERIFY_TOKEN_TTL", "48h", "RESET_TOKEN_TTL", "5m", "EMAIL_CHANGE_TOKEN_TTL", "24h",
			"MAIL_WORKER", "false", "MAIL_POLL_INTERVAL", "100ms", "MAIL_MAX_ATTEMPTS", "1", "MAIL_RETENTION", "1h", "MAIL_TEMPLATES_DIR", "/etc/authd/mail"),
			func(c Config) (any, any) {
				return []any{c.VerifyTokenTTL, c.ResetTokenTTL, c.EmailChangeTokenTTL, c.MailWorker, c.MailPollInterval, c.MailMaxAttempts, c.MailRetention, c.MailTemplatesDir},
					[]any{48 * time.Hour, 5 * time.Minute, 24 * time.Hour, false, 100 * time.Millisecond, 1, time.Hour, "/etc/authd/mail"}
			}},
		{"account flow settings", with(smtpEnv(), "EMAIL_VERIFICATION", "required", "MAIL_COOLDOWN", "0s", "MAIL_MAX_PER_HOUR", "1000",
			"IP_MAIL_PER_MINUTE", "0", "IP_MAIL_BURST", "0", "REGISTER_HIDE_EXISTING", "true", "ACCOUNT_SELF_DELETE", "true"),
			func(c Config) (any, any) {
				return []any{c.EmailVerification, c.MailCooldown, c.MailMaxPerHour, c.IPMailPerMinute, c.IPMailBurst, c.RegisterHideExisting, c.AccountSelfDelete},
					[]any{"required", time.Duration(0), 1000, 0, 0, true, true}
			}},
		{"verification optional", with(smtpEnv(), "EMAIL_VERIFICATION", "optional"), func(c Config) (any, any) { return c.EmailVerification, "optional" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, want := tt.check(mustLoad(t, tt.env))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestLoadMailInvalid(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string // one whole line of the error
	}{
		{with(smtpEnv(), "EMAIL_FROM", ""), `EMAIL_FROM: must be set when MAIL_TRANSPORT is smtp (the From address, e.g. no-reply@example.com)`},
		{with(smtpEnv(), "EMAIL_FROM", "authd <no-reply@example.com>"), `EMAIL_FROM: "authd <no-reply@example.com>" is not a plain email address (e.g. no-reply@example.com; the display name goes in EMAIL_FROM_NAME)`},
		{with(minimal(), "EMAIL_FROM", "no-reply"), `EMAIL_FROM: "no-reply" is not a plain email address (e.g. no-reply@example.com; the display name goes in EMAIL_FROM_NAME)`},
		{with(smtpEnv(), "EMAIL_FROM_NAME", "a\nb"), `EMAIL_FROM_NAME: must be one line without control characters`},
		{with(smtpEnv(), "SMTP_HOST", ""), `SMTP_HOST: must be set when MAIL_TRANSPORT is smtp`},
		{with(smtpEnv(), "SMTP_HOST", "smtp.example.com:587"), `SMTP_HOST: "smtp.example.com:587" is not a host name or IP address (no port: that is SMTP_PORT)`},
		{with(smtpEnv(), "SMTP_PORT", "0"), `SMTP_PORT: "0" is out of range (want 1 to 65535)`},
		{with(smtpEnv(), "SMTP_TLS", "none"), `SMTP_TLS: none sends mails and any password in plain text, so it is allowed only to a loopback SMTP_HOST (localhost, 127.0.0.1, ::1), not "smtp.example.com"; use starttls or implicit`},
		{with(smtpEnv(), "SMTP_TLS", "none", "SMTP_HOST", "10.0.0.25"), `SMTP_TLS: none sends mails and any password in plain text, so it is allowed only to a loopback SMTP_HOST (localhost, 127.0.0.1, ::1), not "10.0.0.25"; use starttls or implicit`},
		{with(smtpEnv(), "SMTP_TLS", "skip-verify"), `SMTP_TLS: "skip-verify" is not one of starttls, implicit, none`},
		{with(smtpEnv(), "SMTP_TLS", "tls"), `SMTP_TLS: "tls" is not one of starttls, implicit, none`},
		{with(smtpEnv(), "SMTP_USER", "authd"), `SMTP_USER: is set but SMTP_PASS is not: set both for SMTP AUTH, or neither`},
		{with(smtpEnv(), "SMTP_PASS", "pw"), `SMTP_PASS: is set but SMTP_USER is not: set both for SMTP AUTH, or neither`},
		{with(smtpEnv(), "SMTP_TIMEOUT", "0s"), `SMTP_TIMEOUT: 0s is out of range (want 1s to 5m)`},
		{with(minimal(), "MAIL_TRANSPORT", "log", "EMAIL_FROM", "a@localhost", "CLIENT_ORIGIN", "http://localhost:3000"), `MAIL_TRANSPORT: log writes every mail, links and their tokens included, to the log; it is for development only and refused unless COOKIE_SECURE=false`},
		{with(smtpEnv(), "MAIL_TRANSPORT", "sendmail"), `MAIL_TRANSPORT: "sendmail" is not one of off, smtp, log`},
		{with(smtpEnv(), "CLIENT_ORIGIN", ""), `EMAIL_LINK_BASE: must be set when mail is on and CLIENT_ORIGIN is empty (the scheme://host[:port] of the links in mails)`},
		{with(smtpEnv(), "EMAIL_LINK_BASE", "https://app.example.com/app"), `EMAIL_LINK_BASE: "https://app.example.com/app" must not have a path (want scheme://host[:port], e.g. https://app.example.com)`},
		{with(smtpEnv(), "EMAIL_VERIFY_PATH", "verifyemail/{token}"), `EMAIL_VERIFY_PATH: "verifyemail/{token}" must start with a single / (the path after EMAIL_LINK_BASE)`},
		{with(smtpEnv(), "PASSWORD_RESET_PATH", "//evil.example.com/{token}"), `PASSWORD_RESET_PATH: "//evil.example.com/{token}" must start with a single / (the path after EMAIL_LINK_BASE)`},
		{with(smtpEnv(), "EMAIL_CHANGE_PATH", "/confirm-email"), `EMAIL_CHANGE_PATH: "/confirm-email" must hold the placeholder {token} exactly once`},
		{with(smtpEnv(), "EMAIL_VERIFY_PATH", "/{token}/{token}"), `EMAIL_VERIFY_PATH: "/{token}/{token}" must hold the placeholder {token} exactly once`},
		{with(smtpEnv(), "EMAIL_VERIFY_PATH", "/verify email/{token}"), `EMAIL_VERIFY_PATH: "/verify email/{token}" is not a URL path (no spaces, braces, quotes or backslashes besides the placeholder)`},
		{with(smtpEnv(), "EMAIL_VERIFY_PATH", "/verify/{token}/{id}"), `EMAIL_VERIFY_PATH: "/verify/{token}/{id}" is not a URL path (no spaces, braces, quotes or backslashes besides the placeholder)`},
		{with(smtpEnv(), "RESET_TOKEN_TTL", "4m"), `RESET_TOKEN_TTL: 4m is out of range (want 5m to 24h)`},
		{with(smtpEnv(), "RESET_TOKEN_TTL", "25h"), `RESET_TOKEN_TTL: 25h is out of range (want 5m to 24h)`},
		{with(smtpEnv(), "VERIFY_TOKEN_TTL", "169h"), `VERIFY_TOKEN_TTL: 169h is out of range (want 5m to 168h)`},
		{with(smtpEnv(), "EMAIL_CHANGE_TOKEN_TTL", "1m"), `EMAIL_CHANGE_TOKEN_TTL: 1m is out of range (want 5m to 24h)`},
		{with(smtpEnv(), "MAIL_WORKER", "yes"), `MAIL_WORKER: "yes" is not a boolean (want true or false)`},
		{with(smtpEnv(), "MAIL_POLL_INTERVAL", "10ms"), `MAIL_POLL_INTERVAL: 10ms is out of range (want 100ms to 10m)`},
		{with(smtpEnv(), "MAIL_MAX_ATTEMPTS", "0"), `MAIL_MAX_ATTEMPTS: "0" is out of range (want 1 to 100)`},
		{with(smtpEnv(), "MAIL_RETENTION", "30m"), `MAIL_RETENTION: 30m is out of range (want 1h to 8784h)`},
		{with(minimal(), "EMAIL_VERIFICATION", "required"), `EMAIL_VERIFICATION: required needs mail: set MAIL_TRANSPORT to smtp (or log in development)`},
		{with(minimal(), "EMAIL_VERIFICATION", "optional"), `EMAIL_VERIFICATION: optional needs mail: set MAIL_TRANSPORT to smtp (or log in development)`},
		{with(smtpEnv(), "EMAIL_VERIFICATION", "on"), `EMAIL_VERIFICATION: "on" is not one of off, optional, required`},
		{with(smtpEnv(), "MAIL_COOLDOWN", "2h"), `MAIL_COOLDOWN: 2h is out of range (want 0s to 1h)`},
		{with(smtpEnv(), "MAIL_MAX_PER_HOUR", "0"), `MAIL_MAX_PER_HOUR: "0" is out of range (want 1 to 1000)`},
		{with(smtpEnv(), "IP_MAIL_PER_MINUTE", "-1"), `IP_MAIL_PER_MINUTE: "-1" is out of range (want 0 to 1000000)`},
		{with(smtpEnv(), "IP_MAIL_BURST", "x"), `IP_MAIL_BURST: "x" is not an integer (want 0 to 1000000)`},
		{with(smtpEnv(), "REGISTER_HIDE_EXISTING", "maybe"), `REGISTER_HIDE_EXISTING: "maybe" is not a boolean (want true or false)`},
		{with(smtpEnv(), "ACCOUNT_SELF_DELETE", "1x"), `ACCOUNT_SELF_DELETE: "1x" is not a boolean (want true or false)`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := Load(mapEnv(tt.env))
			if err == nil {
				t.Fatalf("Load: no error, want %q", tt.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if !slices.Contains(lines, tt.want) {
				t.Errorf("Load error:\n%v\nwant the line\n%s", err, tt.want)
			}
			if len(lines) != 1 {
				t.Errorf("Load reported %d problems, want 1:\n%v", len(lines), err)
			}
		})
	}
}
