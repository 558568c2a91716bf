package token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// minRSABits is the smallest RSA modulus accepted.
const minRSABits = 2048

// KeySet holds one signing key and any number of verification-only public keys for one kind.
type KeySet struct {
	private crypto.Signer
	signing *key
	keys    []*key // signing key first, then extra keys; kids are unique
	// retired are earlier signing keys whose MAC refresh tokens still
	// verify (mac.go); see Retire.
	retired []crypto.Signer
}

// key is one public key with its pinned algorithm.
type key struct {
	kid    string
	alg    string
	method jwt.SigningMethod
	public crypto.PublicKey
	jwk    jwk
}

// jwk is one entry of a JWKS document.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
}

// ParseKeySet decodes keys given as base64-encoded PEM or as raw PEM text.
// private is required; public is optional and must match private; extra are
// public keys accepted for verification only (key rotation).
func ParseKeySet(private, public string, extra []string) (*KeySet, error) {
	block, err := decodePEM(private)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	priv, err := parsePrivate(block)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	signing, err := newKey(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	ks := &KeySet{private: priv, signing: signing, keys: []*key{signing}}

	if strings.TrimSpace(public) != "" {
		k, err := parsePublicText(public)
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		if k.kid != signing.kid {
			return nil, errors.New("public key: does not match the private key")
		}
	}
	for i, s := range extra {
		k, err := parsePublicText(s)
		if err != nil {
			return nil, fmt.Errorf("extra key %d: %w", i+1, err)
		}
		if ks.find(k.kid) == nil {
			ks.keys = append(ks.keys, k)
		}
	}
	return ks, nil
}

// Retire adds earlier private signing keys (base64 PEM) whose MAC refresh
// tokens still verify, for rotating a refresh key: a MAC key is derived
// from a private key, so a public key cannot do this. Their public halves
// verify as extra keys do.
func (ks *KeySet) Retire(private []string) error {
	for i, s := range private {
		block, err := decodePEM(s)
		if err != nil {
			return fmt.Errorf("retired key %d: %w", i+1, err)
		}
		p, err := parsePrivate(block)
		if err != nil {
			return fmt.Errorf("retired key %d: %w", i+1, err)
		}
		k, err := newKey(p.Public())
		if err != nil {
			return fmt.Errorf("retired key %d: %w", i+1, err)
		}
		if k.kid == ks.signing.kid {
			continue
		}
		if ks.find(k.kid) == nil {
			ks.keys = append(ks.keys, k)
		}
		ks.retired = append(ks.retired, p)
	}
	return nil
}

// Alg returns the signing algorithm ("RS256", "ES256" or "EdDSA").
func (ks *KeySet) Alg() string { return ks.signing.alg }

// KID returns the signing key's kid: its RFC 7638 SHA-256 thumbprint, base64url.
func (ks *KeySet) KID() string { return ks.signing.kid }

// SameKeys reports whether two key sets share any key (by kid).
func SameKeys(a, b *KeySet) bool {
	if a == nil || b == nil {
		return false
	}
	for _, k := range a.keys {
		if b.find(k.kid) != nil {
			return true
		}
	}
	return false
}

// find returns the key with this kid, or nil.
func (ks *KeySet) find(kid string) *key {
	for _, k := range ks.keys {
		if k.kid == kid {
			return k
		}
	}
	return nil
}

// GenerateKey makes a new private key for alg ("RS256": RSA 2048, "ES256": P-256,
// "EdDSA": Ed25519) and returns it as PKCS#8 PEM, with its public half as PKIX PEM.
func GenerateKey(alg string) (privatePEM, publicPEM []byte, err error) {
	var priv crypto.Signer
	switch alg {
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, nil, fmt.Errorf("generate key: unsupported algorithm %q (want RS256, ES256 or EdDSA)", alg)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	privatePEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	publicPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	return privatePEM, publicPEM, nil
}

// decodePEM returns the single PEM block in s, which is raw PEM or base64 of PEM.
// Errors never quote s.
func decodePEM(s string) (*pem.Block, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("empty")
	}
	text := []byte(s)
	if !strings.HasPrefix(s, "-----BEGIN") {
		// base64 tools often wrap lines: drop all white space first.
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
		if err != nil {
			return nil, errors.New("neither PEM nor base64-encoded PEM")
		}
		text = b
	}
	block, rest := pem.Decode(text)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("want exactly one PEM block")
	}
	if _, ok := block.Headers["Proc-Type"]; ok {
		return nil, errors.New("encrypted PEM is not supported")
	}
	return block, nil
}

// parsePrivate parses a PKCS#1, PKCS#8 or SEC1 private key.
func parsePrivate(block *pem.Block) (crypto.Signer, error) {
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse PKCS#1: %w", err)
		}
		return k, nil
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse SEC1: %w", err)
		}
		return k, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse PKCS#8: %w", err)
		}
		switch k := k.(type) {
		case *rsa.PrivateKey:
			return k, nil
		case *ecdsa.PrivateKey:
			return k, nil
		case ed25519.PrivateKey:
			return k, nil
		default:
			return nil, fmt.Errorf("unsupported key type %T (want RSA, ECDSA P-256 or Ed25519)", k)
		}
	default:
		return nil, fmt.Errorf("PEM type %q is not a private key (want RSA PRIVATE KEY, PRIVATE KEY or EC PRIVATE KEY)", block.Type)
	}
}

// parsePublicText parses a PKIX or PKCS#1 public key given as (base64) PEM.
func parsePublicText(s string) (*key, error) {
	block, err := decodePEM(s)
	if err != nil {
		return nil, err
	}
	var pub any
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse PKIX: %w", err)
		}
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse PKCS#1: %w", err)
		}
	default:
		return nil, fmt.Errorf("PEM type %q is not a public key (want PUBLIC KEY or RSA PUBLIC KEY)", block.Type)
	}
	return newKey(pub)
}

// newKey checks pub and pins its algorithm.
func newKey(pub crypto.PublicKey) (*key, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	var (
		k     key
		thumb string // RFC 7638: required members, sorted, no spaces
	)
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		if bits := pub.N.BitLen(); bits < minRSABits {
			return nil, fmt.Errorf("RSA key is %d bits, want at least %d", bits, minRSABits)
		}
		n := b64(pub.N.Bytes())
		e := b64(big.NewInt(int64(pub.E)).Bytes())
		k = key{alg: "RS256", method: jwt.SigningMethodRS256, jwk: jwk{Kty: "RSA", N: n, E: e}}
		thumb = `{"e":"` + e + `","kty":"RSA","n":"` + n + `"}`
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return nil, fmt.Errorf("ECDSA curve %s is not supported, want P-256", pub.Curve.Params().Name)
		}
		b, err := pub.Bytes() // 0x04 || x || y
		if err != nil {
			return nil, fmt.Errorf("ECDSA key: %w", err)
		}
		x, y := b64(b[1:33]), b64(b[33:65])
		k = key{alg: "ES256", method: jwt.SigningMethodES256, jwk: jwk{Kty: "EC", Crv: "P-256", X: x, Y: y}}
		thumb = `{"crv":"P-256","kty":"EC","x":"` + x + `","y":"` + y + `"}`
	case ed25519.PublicKey:
		if len(pub) != ed25519.PublicKeySize {
			return nil, errors.New("wrong Ed25519 key size")
		}
		x := b64(pub)
		k = key{alg: "EdDSA", method: jwt.SigningMethodEdDSA, jwk: jwk{Kty: "OKP", Crv: "Ed25519", X: x}}
		thumb = `{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`
	default:
		return nil, fmt.Errorf("unsupported key type %T (want RSA, ECDSA P-256 or Ed25519)", pub)
	}
	sum := sha256.Sum256([]byte(thumb))
	k.kid = b64(sum[:])
	k.public = pub
	k.jwk.Kid = k.kid
	k.jwk.Alg = k.alg
	k.jwk.Use = "sig"
	return &k, nil
}
