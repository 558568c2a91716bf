package config

import (
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// databaseURL returns DATABASE_URL (name) or builds a URL from the POSTGRES_* variables.
func (l *loader) databaseURL(name string) string {
	raw := l.value(name)
	host := l.value("POSTGRES_HOST")
	port := l.value("POSTGRES_PORT")
	user := l.value("POSTGRES_USER")
	password := l.raw("POSTGRES_PASSWORD") // not trimmed: spaces may be part of a password
	dbname := l.value("POSTGRES_DB")

	if raw != "" {
		return l.postgresURL(name)
	}
	if host == "" {
		l.problems = append(l.problems, errors.New("DATABASE_URL or POSTGRES_HOST must be set"))
		return ""
	}
	if _, ok := l.int("POSTGRES_PORT"); !ok {
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

// postgresURL reads a postgres:// or postgresql:// URL; "" when it is not one.
func (l *loader) postgresURL(name string) string {
	raw := l.value(name)
	if raw == "" {
		return ""
	}
	// Never include url.Parse's error: it quotes the URL, password and all.
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		l.problemf(name, "%s is not a postgres:// or postgresql:// URL", l.show(name, raw))
		return ""
	}
	return raw
}

// listenAddr reads LISTEN_HOST (name) and PORT as host:port.
func (l *loader) listenAddr(name string) string {
	host := l.value(name)
	if host != "" && !isHost(host) {
		l.problemf(name, "%s is not a host name or IP address (no brackets or port, e.g. 127.0.0.1 or ::1)", l.show(name, host))
	}
	port, _ := l.int("PORT")
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// metricsAddr reads METRICS_ADDR: host:port, main or off. /metrics is on the
// API port only when asked for by name: an empty value is the loopback
// default, like any unset variable.
func (l *loader) metricsAddr(name string) string {
	s := l.value(name)
	if metricsMode(s) == MetricsListener {
		if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
			l.problemf(name, "%s is not host:port (e.g. 127.0.0.1:9090 or :9090), main or off", l.show(name, s))
		}
	}
	return s
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
