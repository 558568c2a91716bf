package onetime

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"time"
)

// Purpose is what a secret is for, as one_time_tokens.purpose holds it.
type Purpose string

// The purposes. The mail kinds of the links carry the same names.
const (
	VerifyEmail   Purpose = "verify_email"   // prove an address (registration, resend)
	ResetPassword Purpose = "reset_password" // set a forgotten password
	ChangeEmail   Purpose = "change_email"   // confirm a new address; sent to that address
	// LoginTicket: the second step of a login with a second factor; handed
	// to whoever gave the right password, minted with the caller's
	// lifetime (MintFor), a few attempts each (Attempt), never mailed.
	LoginTicket Purpose = "login_ticket"
	// The WebAuthn challenges, one purpose per ceremony (challenge.go):
	// minted with the caller's lifetime, never mailed, used once.
	PasskeyRegister Purpose = "passkey_register" // a user adds a passkey
	PasskeyLogin    Purpose = "passkey_login"    // a passwordless login: the one purpose without a user
	PasskeyMFA      Purpose = "passkey_mfa"      // a passkey as second factor after a password
	PasskeyReauth   Purpose = "passkey_reauth"   // a passkey as step-up
)

// Purposes lists every purpose.
func Purposes() []Purpose {
	return []Purpose{VerifyEmail, ResetPassword, ChangeEmail, LoginTicket, PasskeyRegister, PasskeyLogin, PasskeyMFA, PasskeyReauth}
}

// Format is the shape of a purpose's raw secrets; 0 for an unknown
// purpose.
func (p Purpose) Format() Format {
	switch p {
	case VerifyEmail, ResetPassword, ChangeEmail, LoginTicket, PasskeyRegister, PasskeyLogin, PasskeyMFA, PasskeyReauth:
		return Link
	}
	return 0
}

// Format is how a raw secret is made and written.
type Format int

// The formats.
const (
	// Link: 32 random bytes in base64url without padding, 43 characters
	// of [A-Za-z0-9_-], fit for a URL.
	Link Format = iota + 1
)

// linkBytes is the entropy of a Link secret.
const linkBytes = 32

// Len is the length of a raw secret of f.
func (f Format) Len() int {
	switch f {
	case Link:
		return base64.RawURLEncoding.EncodedLen(linkBytes)
	}
	return 0
}

// new returns a fresh raw secret of f; "" for an unknown format.
func (f Format) new() string {
	switch f {
	case Link:
		b := make([]byte, linkBytes)
		rand.Read(b) // never fails (crypto/rand, Go 1.24+)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return ""
}

// Hash is what one_time_tokens.token_hash holds for raw: the SHA-256 of
// its text. A raw secret is hashed as its holder presents it; a malformed
// one simply matches no row.
func Hash(raw string) []byte {
	h := sha256.Sum256([]byte(raw))
	return h[:]
}

// maxRawLen bounds what is hashed and looked up; longer is never valid.
const maxRawLen = 512

// Lifetimes are how long a secret of each purpose stays valid after it is
// minted. A purpose without one cannot be minted with Mint.
type Lifetimes map[Purpose]time.Duration
