package onetime

import (
	"crypto/rand"
	"crypto/sha256"
	"strings"
)

// Recovery codes stand in for a second factor, each once. A code is 16
// characters of an unambiguous base32 alphabet (80 bits from crypto/rand),
// shown as four groups of four (xxxx-xxxx-xxxx-xxxx). Only RecoveryHash
// of a code is stored (in mfa_recovery_codes, one row per code); the
// codes themselves are shown once, when they are made.

// recoveryAlphabet is Crockford's base32 in lower case: no i, l, o, u.
const recoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// RecoveryCodeBits is the entropy of one recovery code.
const RecoveryCodeBits = 80

// NewRecoveryCode returns a fresh recovery code, xxxx-xxxx-xxxx-xxxx.
func NewRecoveryCode() string {
	var b [10]byte  // 80 bits = 16 characters of 5 bits
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	var out strings.Builder
	var acc uint32
	bits := 0
	n := 0
	for _, c := range b {
		acc = acc<<8 | uint32(c)
		bits += 8
		for bits >= 5 {
			bits -= 5
			if n > 0 && n%4 == 0 {
				out.WriteByte('-')
			}
			out.WriteByte(recoveryAlphabet[(acc>>bits)&31])
			n++
		}
	}
	return out.String()
}

// NormaliseRecoveryCode is the form of a typed recovery code that is
// hashed: lower case, without spaces and dashes, with the letters
// Crockford's base32 reads as digits (o as 0, i and l as 1) mapped; ""
// if it is not 16 characters of the alphabet then.
func NormaliseRecoveryCode(s string) string {
	if len(s) > 64 {
		return ""
	}
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch r {
		case ' ', '-':
			continue
		case 'o':
			r = '0'
		case 'i', 'l':
			r = '1'
		}
		if !strings.ContainsRune(recoveryAlphabet, r) {
			return ""
		}
		b.WriteRune(r)
	}
	if b.Len() != 16 {
		return ""
	}
	return b.String()
}

// RecoveryHash is what mfa_recovery_codes.code_hash holds for a code: the
// SHA-256 of its normalised form (80 random bits need no slow hash); nil
// for text that is not a recovery code.
func RecoveryHash(code string) []byte {
	n := NormaliseRecoveryCode(code)
	if n == "" {
		return nil
	}
	h := sha256.Sum256([]byte(n))
	return h[:]
}
