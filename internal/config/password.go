package config

import "net/url"

// rangeURL reads the base URL of a Pwned Passwords range API: an absolute
// https URL, or http to a loopback host, without user info, query or
// fragment, ending in / (the hash prefix is appended to it).
func (l *loader) rangeURL(name string) string {
	s := l.value(name)
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		l.problemf(name, "%s is not a URL such as https://api.pwnedpasswords.com/range/", l.show(name, s))
	case u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())):
		l.problemf(name, "%s must be https (http only to a loopback host)", l.show(name, s))
	case u.Path == "" || u.Path[len(u.Path)-1] != '/':
		l.problemf(name, "%s must end in / (the hash prefix is appended to it)", l.show(name, s))
	default:
		return s
	}
	return ""
}
