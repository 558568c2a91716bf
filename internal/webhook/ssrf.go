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
// netip.Addr's predicates cover, "this network", CGNAT (RFC 6598), the
// IETF protocol assignments (RFC 6890: DS-Lite and NAT64 gateways sit
// there), the benchmarking range, the reserved 240/4, and Azure's
// WireServer (a public address that serves a VM's agent its settings).
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("168.63.129.16/32"),
}

// IPv6 prefixes that carry an IPv4 address a translator or relay may
// forward to: such an address is judged as the IPv4 one it carries.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")   // RFC 6052, address in the last 32 bits
	nat64L    = netip.MustParsePrefix("64:ff9b:1::/48") // RFC 8215 local use: any mapping, refused
	sixToFour = netip.MustParsePrefix("2002::/16")      // RFC 3056, address in bits 16..47
	v4compat  = netip.MustParsePrefix("::/96")          // deprecated IPv4-compatible (:: and ::1 are in it)
)

// refused reports whether a webhook may not connect to ip without
// allow_private. An IPv4-mapped IPv6 address is judged as its IPv4 one,
// and so are the NAT64, 6to4 and IPv4-compatible forms.
func refused(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64L.Contains(ip):
			return true
		case nat64.Contains(ip), v4compat.Contains(ip):
			if v4compat.Contains(ip) && (ip.IsUnspecified() || ip.IsLoopback()) {
				return true
			}
			return refused(netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFour.Contains(ip):
			return refused(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
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
