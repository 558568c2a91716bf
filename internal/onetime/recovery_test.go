package onetime_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/authd/authd/internal/onetime"
)

func TestRecoveryCodes(t *testing.T) {
	shape := regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$`)
	seen := map[string]bool{}
	for range 200 {
		c := onetime.NewRecoveryCode()
		if !shape.MatchString(c) {
			t.Fatalf("code %q", c)
		}
		if seen[c] {
			t.Fatalf("code %q twice", c)
		}
		seen[c] = true
		h := onetime.RecoveryHash(c)
		if len(h) != 32 {
			t.Fatalf("hash of %q: %d bytes", c, len(h))
		}
		typed := strings.ToUpper(strings.ReplaceAll(c, "-", " "))
		if string(onetime.RecoveryHash(typed)) != string(h) {
			t.Fatalf("%q and %q hash apart", c, typed)
		}
	}
	if onetime.RecoveryCodeBits < 80 {
		t.Error("fewer than 80 bits")
	}
	for _, bad := range []string{"", "abcd", "abcd-efgh-jkmn-pqr", "abcd-efgh-jkmn-pqrs-t", "abcd-efgh-jkmn-pqr!", "123456"} {
		if h := onetime.RecoveryHash(bad); h != nil {
			t.Errorf("RecoveryHash(%q) = %x", bad, h)
		}
	}
	if string(onetime.RecoveryHash("0o1i-1l00-0000-0000")) != string(onetime.RecoveryHash("0011-1100-0000-0000")) {
		t.Error("o, i, l not read as 0, 1, 1")
	}
}
