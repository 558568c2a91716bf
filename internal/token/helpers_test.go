package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

const (
	testIssuer   = "https://authd.test"
	testAudience = "authd-test"
	testLeeway   = 10 * time.Second
	testTTL      = 5 * time.Minute
)

var (
	testSub = uuid.MustParse("0f5c2b7e-8a4d-4c1e-9b3a-2d6f7e8a9b0c")
	testSid = uuid.MustParse("6e1d2c3b-4a59-4867-8f90-a1b2c3d4e5f6")
	// testTime is far from the real clock, so only the injected clock works.
	testTime = time.Date(2030, 3, 4, 5, 6, 7, 0, time.UTC)
)

// testKeys are generated once per test binary (RSA 2048 to keep tests fast).
type testKeys struct {
	rsa [3]*rsa.PrivateKey // access, refresh, retired
	ec  [3]*ecdsa.PrivateKey
	ed  [3]ed25519.PrivateKey
}

var sharedKeys = sync.OnceValues(func() (testKeys, error) {
	var k testKeys
	for i := range 3 {
		var err error
		if k.rsa[i], err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return k, err
		}
		if k.ec[i], err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return k, err
		}
		if _, k.ed[i], err = ed25519.GenerateKey(rand.Reader); err != nil {
			return k, err
		}
	}
	return k, nil
})

func getKeys(t testing.TB) testKeys {
	t.Helper()
	k, err := sharedKeys()
	if err != nil {
		t.Fatalf("generate test keys: %v", err)
	}
	return k
}

// privateKeys returns the access, refresh and retired keys for alg.
func privateKeys(t testing.TB, alg string) [3]crypto.Signer {
	t.Helper()
	k := getKeys(t)
	var out [3]crypto.Signer
	for i := range 3 {
		switch alg {
		case "RS256":
			out[i] = k.rsa[i]
		case "ES256":
			out[i] = k.ec[i]
		case "EdDSA":
			out[i] = k.ed[i]
		default:
			t.Fatalf("unknown alg %q", alg)
		}
	}
	return out
}

// pemText PEM-encodes a private (PKCS#8) or public (PKIX) key.
func pemText(t testing.TB, k any) string {
	t.Helper()
	var (
		der []byte
		typ string
		err error
	)
	if s, ok := k.(crypto.Signer); ok {
		der, err = x509.MarshalPKCS8PrivateKey(s)
		typ = "PRIVATE KEY"
	} else {
		der, err = x509.MarshalPKIXPublicKey(k)
		typ = "PUBLIC KEY"
	}
	if err != nil {
		t.Fatalf("marshal %T: %v", k, err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

// b64PEM is pemText in the tutorial's format: base64 of the whole PEM text.
func b64PEM(t testing.TB, k any) string {
	t.Helper()
	return base64.StdEncoding.EncodeToString([]byte(pemText(t, k)))
}

func mustKeySet(t testing.TB, priv crypto.Signer, extra ...crypto.PublicKey) *KeySet {
	t.Helper()
	var ex []string
	for _, p := range extra {
		ex = append(ex, b64PEM(t, p))
	}
	ks, err := ParseKeySet(b64PEM(t, priv), b64PEM(t, priv.Public()), ex)
	if err != nil {
		t.Fatalf("ParseKeySet: %v", err)
	}
	return ks
}

// fixture is a Signer with a settable clock and the private keys behind it.
type fixture struct {
	s       *Signer
	now     time.Time
	private [3]crypto.Signer // access, refresh, retired
	access  *KeySet
	refresh *KeySet
}

func newFixture(t testing.TB, alg string) *fixture {
	t.Helper()
	f := &fixture{now: testTime, private: privateKeys(t, alg)}
	f.access = mustKeySet(t, f.private[0])
	f.refresh = mustKeySet(t, f.private[1])
	s, err := New(f.options())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.s = s
	return f
}

func (f *fixture) options() Options {
	return Options{
		Access:     f.access,
		Refresh:    f.refresh,
		Issuer:     testIssuer,
		Audience:   testAudience,
		AccessTTL:  testTTL,
		RefreshTTL: time.Hour,
		Leeway:     testLeeway,
		Now:        func() time.Time { return f.now },
		// These tests check refresh tokens in their JWT form, which every
		// release still verifies; mac_test.go covers the MAC form.
		RefreshJWT: true,
	}
}

func (f *fixture) keySet(kind Kind) *KeySet {
	if kind == Refresh {
		return f.refresh
	}
	return f.access
}

func (f *fixture) signer(kind Kind) crypto.Signer {
	if kind == Refresh {
		return f.private[1]
	}
	return f.private[0]
}

// header and claims are what Access/Refresh would sign for kind.
func (f *fixture) header(kind Kind) map[string]any {
	ks := f.keySet(kind)
	return map[string]any{"alg": ks.Alg(), "kid": ks.KID(), "typ": kind.typ()}
}

func (f *fixture) claims(kind Kind) map[string]any {
	c := map[string]any{
		"iss": testIssuer,
		"aud": testAudience,
		"sub": testSub.String(),
		"sid": testSid.String(),
		"jti": "Gq3Jm0Zp3XyQvS1c9kT2bA",
		"iat": f.now.Unix(),
		"nbf": f.now.Unix(),
		"exp": f.now.Add(testTTL).Unix(),
	}
	if kind == Refresh {
		c["gen"] = 3
	}
	return c
}

// forge builds a token with the header and claims of kind after edit, signed
// with kind's private key under the header's alg. HS256 uses the public key
// PEM as the secret; none has no signature.
func (f *fixture) forge(t testing.TB, kind Kind, edit func(h, c map[string]any)) string {
	t.Helper()
	h, c := f.header(kind), f.claims(kind)
	if edit != nil {
		edit(h, c)
	}
	alg, _ := h["alg"].(string)
	if alg == "" {
		alg = f.keySet(kind).Alg()
	}
	var key any = f.signer(kind)
	switch alg {
	case "HS256":
		key = []byte(pemText(t, f.signer(kind).Public()))
	case "none":
		key = jwt.UnsafeAllowNoneSignatureType
	}
	m := jwt.GetSigningMethod(alg)
	if m == nil {
		t.Fatalf("no signing method %q", alg)
	}
	return sign(t, m, key, h, c)
}

// sign encodes h and c by hand and signs them with m.
func sign(t testing.TB, m jwt.SigningMethod, key any, h, c map[string]any) string {
	t.Helper()
	hb, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	unsigned := b64url(hb) + "." + b64url(cb)
	sig, err := m.Sign(unsigned, key)
	if err != nil {
		t.Fatalf("sign %s: %v", m.Alg(), err)
	}
	return unsigned + "." + b64url(sig)
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// decodeSegment decodes part i of a compact JWS into a map.
func decodeSegment(t testing.TB, tok string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatalf("decode part %d: %v", i, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("unmarshal part %d: %v", i, err)
	}
	return m
}
