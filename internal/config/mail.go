package config

import (
	"net/mail"
	"net/netip"
	"net/url"
	"strings"
	"unicode"
)

// The MAIL_*, EMAIL_* and SMTP_* settings and those of the account flows are
// read whatever MAIL_TRANSPORT says, so a typo shows even with mail off; the
// rules that only matter when mail goes out are checked only then, by
// mailRules.

// emailFrom reads a plain From address.
func (l *loader) emailFrom(name string) string {
	s := l.value(name)
	if s != "" && !isBareAddress(s) {
		l.problemf(name, "%s is not a plain email address (e.g. no-reply@example.com; the display name goes in EMAIL_FROM_NAME)", l.show(name, s))
	}
	return s
}

// fromName reads a display name: one line.
func (l *loader) fromName(name string) string {
	s := l.value(name)
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		l.problemf(name, "must be one line without control characters")
	}
	return s
}

// smtpHost reads a host name or IP address, without a port.
func (l *loader) smtpHost(name string) string {
	s := l.value(name)
	if s != "" && (!isHost(s) || strings.Contains(s, "%")) {
		l.problemf(name, "%s is not a host name or IP address (no port: that is SMTP_PORT)", l.show(name, s))
	}
	return s
}

// linkBase reads the origin of the links in mails; mailRules fills its default.
func (l *loader) linkBase(name string) string {
	s := l.value(name)
	if s == "" {
		return ""
	}
	origin, problem := parseOrigin(s)
	if problem != "" {
		l.problemf(name, "%s %s (want scheme://host[:port], e.g. https://app.example.com)", l.show(name, s), problem)
	}
	return origin
}

// mailRules checks the mail settings against each other and fills
// EMAIL_LINK_BASE's default, the first CLIENT_ORIGIN.
func (l *loader) mailRules(c *Config) {
	on := c.MailTransport == "smtp" || c.MailTransport == "log"
	smtp := c.MailTransport == "smtp"
	if c.MailTransport == "log" && c.CookieSecure {
		l.problemf("MAIL_TRANSPORT", "log writes every mail, links and their tokens included, to the log; it is for development only and refused unless COOKIE_SECURE=false")
	}
	if c.EmailFrom == "" && on {
		l.problemf("EMAIL_FROM", "must be set when MAIL_TRANSPORT is %s (the From address, e.g. no-reply@example.com)", c.MailTransport)
	}
	if c.SMTPHost == "" && smtp {
		l.problemf("SMTP_HOST", "must be set when MAIL_TRANSPORT is smtp")
	}
	switch {
	case c.SMTPUser != "" && c.SMTPPass == "":
		l.problemf("SMTP_USER", "is set but SMTP_PASS is not: set both for SMTP AUTH, or neither")
	case c.SMTPUser == "" && c.SMTPPass != "":
		l.problemf("SMTP_PASS", "is set but SMTP_USER is not: set both for SMTP AUTH, or neither")
	}
	if c.SMTPTLS == "none" && smtp && c.SMTPHost != "" && !isLoopback(c.SMTPHost) {
		l.problemf("SMTP_TLS", "none sends mails and any password in plain text, so it is allowed only to a loopback SMTP_HOST (localhost, 127.0.0.1, ::1), not %s; use starttls or implicit", l.show("SMTP_HOST", c.SMTPHost))
	}
	if l.value("EMAIL_LINK_BASE") == "" {
		if len(c.ClientOrigins) > 0 {
			c.EmailLinkBase = c.ClientOrigins[0]
		} else if on {
			l.problemf("EMAIL_LINK_BASE", "must be set when mail is on and CLIENT_ORIGIN is empty (the scheme://host[:port] of the links in mails)")
		}
	}
	if (c.EmailVerification == "optional" || c.EmailVerification == "required") && c.MailTransport == "off" {
		l.problemf("EMAIL_VERIFICATION", "%s needs mail: set MAIL_TRANSPORT to smtp (or log in development)", c.EmailVerification)
	}
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

// pagePath reads a path after EMAIL_LINK_BASE without a token: as
// linkPath, with no placeholder.
func (l *loader) pagePath(name string) string {
	p := l.value(name)
	u, err := url.Parse("https://example.com" + p)
	switch {
	case !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//"):
		l.problemf(name, "%s must start with a single / (the path after EMAIL_LINK_BASE)", l.show(name, p))
	case err != nil || u.Host != "example.com" || strings.ContainsAny(p, " \t\r\n{}<>\"\\"):
		l.problemf(name, "%s is not a URL path (no spaces, braces, quotes or backslashes)", l.show(name, p))
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
