package config

import (
	"math"
	"net/url"
	"strconv"
)

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

// share reads a fraction from 0 to 0.9 (HASH_KNOWN_DEVICE_SHARE).
func (l *loader) share(name string) float64 {
	s := l.value(name)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 0.9 {
		l.problemf(name, "%s is not a fraction from 0 to 0.9", l.show(name, s))
		return 0
	}
	return f
}

// ReservedHashSlots is how many of c's hashing slots the known-device lane
// has to itself: HASH_KNOWN_DEVICE_SHARE of HASH_CONCURRENCY, rounded down,
// and never all of them. With fewer than 4 slots the default reserves none:
// known devices then only go first (measured enough on 2 cores, where one
// reserved slot of two would halve what every other login gets).
func (c Config) ReservedHashSlots() int {
	if c.HashKnownDeviceShare <= 0 || c.HashConcurrency < 2 {
		return 0
	}
	return min(int(math.Floor(c.HashKnownDeviceShare*float64(c.HashConcurrency))), c.HashConcurrency-1)
}
