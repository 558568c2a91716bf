// Package totp is authd's time-based one-time password (RFC 6238): 30 s
// steps, HMAC-SHA-1, 6 digits, one step of skew either way, which every
// authenticator app supports. It makes secrets and their otpauth:// URIs,
// checks a code and says which time step it matched (so the caller can
// accept each step once), and seals secrets for storage (keys.go).
//
// The codes come from github.com/pquerna/otp's hotp, one step at a time.
package totp

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// The parameters of every authd TOTP factor.
const (
	Period     = 30 * time.Second // one time step
	Digits     = 6
	Skew       = 1  // steps accepted before and after the current one
	SecretSize = 20 // bytes: 160 bits, RFC 4226's recommendation
)

// b32 is the base32 of secrets as apps take them: RFC 4648, no padding.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewSecret returns SecretSize random bytes.
func NewSecret() []byte {
	b := make([]byte, SecretSize)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return b
}

// Base32 is secret as an app takes it typed in: upper-case base32
// without padding.
func Base32(secret []byte) string { return b32.EncodeToString(secret) }

// URI is the otpauth:// URI of secret (what a QR code shows), labelled
// issuer:account, with the issuer parameter, SHA1, 6 digits and 30 s.
func URI(issuer, account string, secret []byte) (string, error) {
	k, err := totp.Generate(totp.GenerateOpts{
		Issuer: issuer, AccountName: account, Secret: secret,
		Period: uint(Period / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return "", fmt.Errorf("otpauth uri: %w", err)
	}
	return k.URL(), nil
}

// Step is the time step of t: Unix seconds / 30.
func Step(t time.Time) int64 { return t.Unix() / int64(Period/time.Second) }

// Code is the code of secret at step.
func Code(secret []byte, step int64) string { return code(secret, step, otp.DigitsSix) }

func code(secret []byte, step int64, d otp.Digits) string {
	c, err := hotp.GenerateCodeCustom(Base32(secret), uint64(step), hotp.ValidateOpts{Digits: d, Algorithm: otp.AlgorithmSHA1})
	if err != nil { // only for a secret that is not base32, which Base32 never makes
		return ""
	}
	return c
}

// Match reports whether code is secret's code at one of the steps within
// Skew of now, and which: the latest that matches. A code of any other
// shape than Digits ASCII digits matches nothing. Every step is compared
// in constant time.
func Match(secret []byte, code string, now time.Time) (step int64, ok bool) {
	if !wellFormed(code) {
		return 0, false
	}
	cur := Step(now)
	for s := cur + Skew; s >= cur-Skew; s-- {
		if subtle.ConstantTimeCompare([]byte(Code(secret, s)), []byte(code)) == 1 && !ok {
			step, ok = s, true
		}
	}
	return step, ok
}

// wellFormed: exactly Digits ASCII digits.
func wellFormed(code string) bool {
	if len(code) != Digits {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// LooksLikeCode reports whether s has the shape of a TOTP code (Digits
// ASCII digits), as opposed to a recovery code.
func LooksLikeCode(s string) bool { return wellFormed(s) }
