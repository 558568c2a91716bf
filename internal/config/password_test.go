package config

import (
	"strings"
	"testing"
	"time"
)

// TestLoadPasswordPolicy: the policy's settings, and the range API's URL
// refused unless https (or http to a loopback host), ending in /.
func TestLoadPasswordPolicy(t *testing.T) {
	c := mustLoad(t, with(minimal(), "PASSWORD_MIN_LENGTH", "15", "PASSWORD_BLOCKLIST", "true",
		"PASSWORD_BREACH_CHECK", "true", "PASSWORD_BREACH_URL", "http://127.0.0.1:8089/range/", "PASSWORD_BREACH_TIMEOUT", "500ms"))
	if c.PasswordMinLength != 15 || !c.PasswordBlocklist || !c.PasswordBreachCheck ||
		c.PasswordBreachURL != "http://127.0.0.1:8089/range/" || c.PasswordBreachTimeout != 500*time.Millisecond {
		t.Errorf("got %+v", c)
	}
	for _, tc := range []struct{ name, value, want string }{
		{"PASSWORD_MIN_LENGTH", "7", "PASSWORD_MIN_LENGTH"},
		{"PASSWORD_MIN_LENGTH", "73", "PASSWORD_MIN_LENGTH"},
		{"PASSWORD_BLOCKLIST", "on", "not a boolean"},
		{"PASSWORD_BREACH_URL", "http://api.pwnedpasswords.com/range/", "must be https"},
		{"PASSWORD_BREACH_URL", "https://api.pwnedpasswords.com/range", "must end in /"},
		{"PASSWORD_BREACH_URL", "https://u:p@mirror.example/range/", "not a URL"},
		{"PASSWORD_BREACH_URL", "https://mirror.example/range/?x=1", "not a URL"},
		{"PASSWORD_BREACH_URL", "/range/", "not a URL"},
		{"PASSWORD_BREACH_TIMEOUT", "50ms", "PASSWORD_BREACH_TIMEOUT"},
	} {
		_, err := Load(mapEnv(with(minimal(), tc.name, tc.value)))
		if err == nil || !strings.Contains(err.Error(), tc.name) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%s: %v, want a problem with %q", tc.name, tc.value, err, tc.want)
		}
	}
}

// TestReservedHashSlots: a share of the slots, rounded down, never all.
func TestReservedHashSlots(t *testing.T) {
	for _, tt := range []struct {
		share float64
		conc  int
		want  int
	}{{0.25, 1, 0}, {0.25, 2, 0}, {0.25, 4, 1}, {0.25, 8, 2}, {0.5, 2, 1}, {0.9, 2, 1}, {0.9, 10, 9}, {0, 8, 0}} {
		c := Config{HashKnownDeviceShare: tt.share, HashConcurrency: tt.conc}
		if got := c.ReservedHashSlots(); got != tt.want {
			t.Errorf("share %v of %d slots: %d reserved, want %d", tt.share, tt.conc, got, tt.want)
		}
	}
}
