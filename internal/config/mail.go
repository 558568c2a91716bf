package config

import (
	"net/mail"
	"net/netip"
	"net/url"
	"strings"
	"unicode"
)

// mail reads the MAIL_*, EMAIL_* and SMTP_* settings and those of the
// account flows. Every variable is read whatever MAIL_TRANSPORT says, so
// a typo shows even with mail off; the rules that only matter when mail
// goes out are checked only then.
func (l *loader) mail(c *Config) {
	c.MailTransport = l.oneOf("MAIL_TRANSPORT")
	on := c.MailTransport == "smtp" || c.MailTransport == "log"
	smtp := c.MailTransport == "smtp"
	if c.MailTransport == "log" && c.CookieSecure {
		l.problemf("MAIL_TRANSPORT", "log writes every mail, links and their tokens included, to the log; it is for development only and refused unless COOKIE_SECURE=false")
	}

	c.EmailFrom = l.value("EMAIL_FROM")
	switch {
	case c.EmailFrom == "" && on:
		l.problemf("EMAIL_FROM", "must be set when MAIL_TRANSPORT is %s (the From address, e.g. no-reply@example.com)", c.MailTransport)
	case c.EmailFrom != "" && !isBareAddress(c.EmailFrom):
		l.problemf("EMAIL_FROM", "%s is not a plain email address (e.g. no-reply@example.com; the display name goes in EMAIL_FROM_NAME)", l.show("EMAIL_FROM", c.EmailFrom))
	}
	c.EmailFromName = l.value("EMAIL_FROM_NAME")
	if strings.IndexFunc(c.EmailFromName, unicode.IsControl) >= 0 {
		l.problemf("EMAIL_FROM_NAME", "must be one line without control characters")
	}

	c.SMTPHost = l.value("SMTP_HOST")
	switch {
	case c.SMTPHost == "" && smtp:
		l.problemf("SMTP_HOST", "must be set when MAIL_TRANSPORT is smtp")
	case c.SMTPHost != "" && (!isHost(c.SMTPHost) || strings.Contains(c.SMTPHost, "%")):
		l.problemf("SMTP_HOST", "%s is not a host name or IP address (no port: that is SMTP_PORT)", l.show("SMTP_HOST", c.SMTPHost))
	}
	c.SMTPPort, _ = l.int("SMTP_PORT")
	c.SMTPUser = l.value("SMTP_USER")
	c.SMTPPass = l.raw("SMTP_PASS") // not trimmed: spaces may be part of a password
	switch {
	case c.SMTPUser != "" && c.SMTPPass == "":
		l.problemf("SMTP_USER", "is set but SMTP_PASS is not: set both for SMTP AUTH, or neither")
	case c.SMTPUser == "" && c.SMTPPass != "":
		l.problemf("SMTP_PASS", "is set but SMTP_USER is not: set both for SMTP AUTH, or neither")
	}
	c.SMTPTLS = l.oneOf("SMTP_TLS")
	if c.SMTPTLS == "none" && smtp && c.SMTPHost != "" && !isLoopback(c.SMTPHost) {
		l.problemf("SMTP_TLS", "none sends mails and any password in plain text, so it is allowed only to a loopback SMTP_HOST (localhost, 127.0.0.1, ::1), not %s; use starttls or implicit", l.show("SMTP_HOST", c.SMTPHost))
	}
	c.SMTPTimeout, _ = l.duration("SMTP_TIMEOUT")

	c.EmailLinkBase = l.value("EMAIL_LINK_BASE")
	if c.EmailLinkBase != "" {
		origin, problem := parseOrigin(c.EmailLinkBase)
		if problem != "" {
			l.problemf("EMAIL_LINK_BASE", "%s %s (want scheme://host[:port], e.g. https://app.example.com)", l.show("EMAIL_LINK_BASE", c.EmailLinkBase), problem)
		}
		c.EmailLinkBase = origin
	} else if len(c.ClientOrigins) > 0 {
		c.EmailLinkBase = c.ClientOrigins[0]
	} else if on {
		l.problemf("EMAIL_LINK_BASE", "must be set when mail is on and CLIENT_ORIGIN is empty (the scheme://host[:port] of the links in mails)")
	}
	c.EmailVerifyPath = l.linkPath("EMAIL_VERIFY_PATH")
	c.PasswordResetPath = l.linkPath("PASSWORD_RESET_PATH")
	c.EmailChangePath = l.linkPath("EMAIL_CHANGE_PATH")
	c.VerifyTokenTTL, _ = l.duration("VERIFY_TOKEN_TTL")
	c.ResetTokenTTL, _ = l.duration("RESET_TOKEN_TTL")
	c.EmailChangeTokenTTL, _ = l.duration("EMAIL_CHANGE_TOKEN_TTL")

	c.MailWorker = l.bool("MAIL_WORKER")
	c.MailPollInterval, _ = l.duration("MAIL_POLL_INTERVAL")
	c.MailMaxAttempts, _ = l.int("MAIL_MAX_ATTEMPTS")
	c.MailRetention, _ = l.duration("MAIL_RETENTION")
	c.MailTemplatesDir = l.value("MAIL_TEMPLATES_DIR")

	c.EmailVerification = l.oneOf("EMAIL_VERIFICATION")
	if (c.EmailVerification == "optional" || c.EmailVerification == "required") && c.MailTransport == "off" {
		l.problemf("EMAIL_VERIFICATION", "%s needs mail: set MAIL_TRANSPORT to smtp (or log in development)", c.EmailVerification)
	}
	c.MailCooldown, _ = l.duration("MAIL_COOLDOWN")
	c.MailMaxPerHour, _ = l.int("MAIL_MAX_PER_HOUR")
	c.IPMailPerMinute, _ = l.int("IP_MAIL_PER_MINUTE")
	c.IPMailBurst, _ = l.int("IP_MAIL_BURST")
	c.RegisterHideExisting = l.bool("REGISTER_HIDE_EXISTING")
	c.AccountSelfDelete = l.bool("ACCOUNT_SELF_DELETE")
}

// tokenPlaceholder is replaced by the token in a link path.
const tokenPlaceholder = "{token}"

// linkPath checks a link path: it starts with /, holds {token} once, and
// with a token in its place is the path, query or fragment of a URL.
func (l *loader) linkPath(name string) string {
	p := l.value(name)
	sample := strings.Replace(p, tokenPlaceholder, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 1)
	u, err := url.Parse("https://example.com" + sample)
	switch {
	case !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//"):
		l.problemf(name, "%s must start with a single / (the path after EMAIL_LINK_BASE)", l.show(name, p))
	case strings.Count(p, tokenPlaceholder) != 1:
		l.problemf(name, "%s must hold the placeholder %s exactly once", l.show(name, p), tokenPlaceholder)
	case err != nil || u.Host != "example.com" || strings.ContainsAny(sample, " \t\r\n{}<>\"\\"):
		l.problemf(name, "%s is not a URL path (no spaces, braces, quotes or backslashes besides the placeholder)", l.show(name, p))
	}
	return p
}

// isBareAddress reports whether s is one plain email address, without a
// display name or angle brackets.
func isBareAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s && strings.Contains(s, "@")
}

// isLoopback reports whether host is localhost or a loopback IP address.
func isLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
