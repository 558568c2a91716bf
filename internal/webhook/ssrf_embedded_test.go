package webhook

import (
	"net/netip"
	"testing"
)

// TestRefusedEmbeddedIPv4: IPv6 forms that carry an IPv4 address and that
// a network may translate to it are judged as that address. On an
// IPv6-only cluster with DNS64/NAT64 (EKS IPv6, GKE IPv6-only, many
// corporate networks) 64:ff9b::a9fe:a9fe reaches 169.254.169.254 and
// 64:ff9b::a00:1 reaches 10.0.0.1; a 6to4 relay does the same with
// 2002:a9fe:a9fe::; ::a.b.c.d is the deprecated IPv4-compatible form. A
// webhook URL (or a name whose AAAA record the receiver controls) with
// such an address must not get past guard when allow_private is off.
func TestRefusedEmbeddedIPv4(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		addr string
		want bool
	}{
		// NAT64 well-known prefix (RFC 6052) and local-use prefix (RFC 8215).
		{"64:ff9b::a9fe:a9fe", true}, // 169.254.169.254, cloud metadata
		{"64:ff9b::7f00:1", true},    // 127.0.0.1
		{"64:ff9b::a00:1", true},     // 10.0.0.1
		{"64:ff9b::c0a8:101", true},  // 192.168.1.1
		{"64:ff9b:1::a00:1", true},   // local-use NAT64 prefix: whatever the operator maps it to
		// 6to4 (RFC 3056): the IPv4 address in bits 16..47.
		{"2002:a9fe:a9fe::1", true},
		{"2002:7f00:1::1", true},
		{"2002:a00:1::1", true},
		// IPv4-compatible (deprecated, RFC 4291 2.5.5.1).
		{"::a9fe:a9fe", true},
		{"::7f00:1", true},
		// Still allowed: the same forms of public addresses.
		{"64:ff9b::808:808", false},
		{"2002:808:808::1", false},
	} {
		if got := refused(netip.MustParseAddr(c.addr)); got != c.want {
			t.Errorf("refused(%s) = %v, want %v", c.addr, got, c.want)
		}
	}
	if err := guard("tcp", "[64:ff9b::a9fe:a9fe]:80", nil); err == nil {
		t.Error("guard let 64:ff9b::a9fe:a9fe (NAT64 of 169.254.169.254) through")
	}
}
