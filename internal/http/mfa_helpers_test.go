package http

import (
	"encoding/base32"
	"fmt"
	"testing"
	"time"

	"github.com/authd/authd/internal/totp"
)

// codeAt is the TOTP code of a base32 secret (as enrolment answers it) at now.
func codeAt(t *testing.T, secret string, now time.Time) string {
	t.Helper()
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		t.Fatalf("secret %q: %v", secret, err)
	}
	return totp.Code(key, totp.Step(now))
}

// wrongCode is a six-digit code that matches no step of the window at now.
func wrongCode(t *testing.T, secret string, now time.Time) string {
	t.Helper()
	window := map[string]bool{}
	for _, d := range []time.Duration{-totp.Period, 0, totp.Period} {
		window[codeAt(t, secret, now.Add(d))] = true
	}
	for i := 0; ; i++ {
		if c := fmt.Sprintf("%06d", i); !window[c] {
			return c
		}
	}
}
