package token

import (
	"crypto"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// A refresh token is read back only by authd, next to the database row of
// its session, so it needs no public-key signature: it is a MAC-protected
// token,
//
//	rt1.<base64url(body)>.<base64url(HMAC-SHA256(key, iss NUL aud NUL "rt1." body64))>
//
// body = sub (16 bytes) | sid (16) | gen (8, big-endian) | jti (16) | iat (8) | exp (8),
// the times in Unix seconds. The key is derived with HKDF-SHA256 from the
// refresh signing key (REFRESH_TOKEN_PRIVATE_KEY), so every replica given
// that key derives the same one, and the tutorial's settings still configure
// everything. A retired refresh private key (KeySet.Retire,
// REFRESH_TOKEN_RETIRED_KEYS) keeps its MAC tokens verifying, for key
// rotation. Refresh tokens signed as JWTs by earlier releases still
// verify until they expire.

// macPrefix starts every MAC refresh token.
const macPrefix = "rt1."

// macBodyLen is the length of a MAC token's body.
const macBodyLen = 16 + 16 + 8 + 16 + 8 + 8

// macKeyInfo is HKDF's info: it ties the key to this use.
const macKeyInfo = "authd refresh token MAC v1"

// deriveMACKeys derives the refresh MAC keys from a refresh key set: the
// signing key's first (it makes new tokens), then the retired private keys'
// (they still verify).
func deriveMACKeys(ks *KeySet) ([][]byte, error) {
	var out [][]byte
	for _, p := range append([]crypto.Signer{ks.private}, ks.retired...) {
		der, err := x509.MarshalPKCS8PrivateKey(p)
		if err != nil {
			return nil, fmt.Errorf("refresh MAC key: %w", err)
		}
		k, err := hkdf.Key(sha256.New, der, nil, macKeyInfo, 32)
		if err != nil {
			return nil, fmt.Errorf("refresh MAC key: %w", err)
		}
		out = append(out, k)
	}
	return out, nil
}

// signMAC encodes c as a MAC refresh token.
func (s *Signer) signMAC(c Claims) (string, error) {
	jti, err := base64.RawURLEncoding.DecodeString(c.ID)
	if err != nil || len(jti) != 16 {
		return "", errors.New("jti is not 16 bytes of base64url")
	}
	body := make([]byte, 0, macBodyLen)
	body = append(body, c.Subject[:]...)
	body = append(body, c.Session[:]...)
	body = binary.BigEndian.AppendUint64(body, uint64(c.Generation))
	body = append(body, jti...)
	body = binary.BigEndian.AppendUint64(body, uint64(c.IssuedAt.Unix()))
	body = binary.BigEndian.AppendUint64(body, uint64(c.ExpiresAt.Unix()))
	unsigned := macPrefix + base64.RawURLEncoding.EncodeToString(body)
	return unsigned + "." + base64.RawURLEncoding.EncodeToString(s.mac(s.refreshMAC[0], unsigned)), nil
}

func (s *Signer) mac(key []byte, unsigned string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s.issuer))
	m.Write([]byte{0})
	m.Write([]byte(s.audience))
	m.Write([]byte{0})
	m.Write([]byte(unsigned))
	return m.Sum(nil)
}

// verifyMAC checks a MAC refresh token: its tag first (a forgery costs one
// HMAC), then its times with the leeway.
func (s *Signer) verifyMAC(tok string) (Claims, error) {
	body64, tag64, ok := strings.Cut(tok[len(macPrefix):], ".")
	unsigned := macPrefix + body64
	if !ok {
		return Claims{}, fmt.Errorf("%w: malformed refresh token", ErrInvalid)
	}
	tag, err := base64.RawURLEncoding.Strict().DecodeString(tag64)
	if err != nil || len(tag) != sha256.Size {
		return Claims{}, fmt.Errorf("%w: bad MAC", ErrInvalid)
	}
	valid := false
	for _, k := range s.refreshMAC {
		if subtle.ConstantTimeCompare(tag, s.mac(k, unsigned)) == 1 {
			valid = true
			break
		}
	}
	if !valid {
		return Claims{}, fmt.Errorf("%w: bad MAC", ErrInvalid)
	}
	body, err := base64.RawURLEncoding.DecodeString(body64)
	if err != nil || len(body) != macBodyLen {
		return Claims{}, fmt.Errorf("%w: malformed refresh token body", ErrInvalid)
	}
	var c Claims
	c.Kind = Refresh
	copy(c.Subject[:], body[0:16])
	copy(c.Session[:], body[16:32])
	gen := binary.BigEndian.Uint64(body[32:40])
	c.ID = base64.RawURLEncoding.EncodeToString(body[40:56])
	c.IssuedAt = time.Unix(int64(binary.BigEndian.Uint64(body[56:64])), 0).UTC()
	c.ExpiresAt = time.Unix(int64(binary.BigEndian.Uint64(body[64:72])), 0).UTC()
	now := s.now()
	switch {
	case gen > 1<<62:
		return Claims{}, fmt.Errorf("%w: generation out of range", ErrInvalid)
	case c.Subject == uuid.Nil || c.Session == uuid.Nil:
		return Claims{}, fmt.Errorf("%w: nil subject or session", ErrInvalid)
	case !now.Before(c.ExpiresAt.Add(s.leeway)):
		return Claims{}, fmt.Errorf("%w: expired", ErrInvalid)
	case c.IssuedAt.After(now.Add(s.leeway)):
		return Claims{}, fmt.Errorf("%w: issued in the future", ErrInvalid)
	}
	c.Generation = int64(gen)
	return c, nil
}
