package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// errPrivate is the dial error for a refused address.
var errPrivate = errors.New("address not allowed (loopback, private, link-local, CGNAT, multicast or unspecified; set allow_private to permit)")

// blocked are the ranges refused unless allow_private: besides what
// netip.Addr's predicates cover, "this network" and CGNAT (RFC 6598).
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
}

// refused reports whether a webhook may not connect to ip without
// allow_private. An IPv4-mapped IPv6 address is judged as its IPv4 one.
func refused(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return true
	}
	for _, p := range blocked {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// guard is a net.Dialer Control that refuses connections to the refused
// addresses. It runs on the address being dialed, after name resolution,
// so a name that resolves (or is rebound) to a private address is refused
// as well.
func guard(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("webhook dial %s: %w", address, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("webhook dial %s: %w", address, err)
	}
	if refused(ip) {
		return fmt.Errorf("webhook dial %s: %w", ip, errPrivate)
	}
	return nil
}
