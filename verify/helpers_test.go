package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Unix(1_800_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// testKey is a private key made by the test, with the JWK of its public
// half written by hand (not by the code under test).
type testKey struct {
	alg    string
	kid    string
	method jwt.SigningMethod
	priv   crypto.Signer
	jwk    map[string]string
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func newKey(t *testing.T, alg, kid string) *testKey {
	t.Helper()
	k := &testKey{alg: alg, kid: kid}
	switch alg {
	case "RS256":
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		k.priv, k.method = priv, jwt.SigningMethodRS256
		k.jwk = map[string]string{"kty": "RSA", "n": b64(priv.N.Bytes()), "e": b64(big.NewInt(int64(priv.E)).Bytes())}
	case "ES256":
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pt, err := priv.PublicKey.Bytes() // 0x04 || X || Y
		if err != nil {
			t.Fatal(err)
		}
		k.priv, k.method = priv, jwt.SigningMethodES256
		k.jwk = map[string]string{"kty": "EC", "crv": "P-256", "x": b64(pt[1:33]), "y": b64(pt[33:])}
	case "EdDSA":
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		k.priv, k.method = priv, jwt.SigningMethodEdDSA
		k.jwk = map[string]string{"kty": "OKP", "crv": "Ed25519", "x": b64(pub)}
	default:
		t.Fatalf("alg %s", alg)
	}
	k.jwk["kid"], k.jwk["alg"], k.jwk["use"] = kid, alg, "sig"
	return k
}

// sign signs claims with k, with header typ "at+jwt" and k's kid; edit
// changes the token before signing.
func (k *testKey) sign(t *testing.T, claims jwt.MapClaims, edit func(*jwt.Token)) string {
	t.Helper()
	tok := jwt.NewWithClaims(k.method, claims)
	tok.Header["typ"] = "at+jwt"
	tok.Header["kid"] = k.kid
	if edit != nil {
		edit(tok)
	}
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const (
	testSub = "0b6f7c1e-8d3a-4f5b-9c2d-1e2f3a4b5c6d"
	testSid = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
)

// claimsAt are the claims authd signs, issued at now.
func claimsAt(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": "https://auth.example.com", "aud": "api", "sub": testSub, "sid": testSid,
		"jti": "3q2-7wAAAAAAAAAAAAAAAA", "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(15 * time.Minute).Unix(), "aal": 1, "amr": []string{"pwd"},
		"auth_time": now.Unix(),
	}
}

// jwksServer serves a key set that the test can change, and counts the
// requests.
type jwksServer struct {
	*httptest.Server
	mu     sync.Mutex
	keys   []map[string]string
	status int
	hits   atomic.Int64
	block  chan struct{} // if non-nil, requests wait for it to close
}

func newJWKSServer(t *testing.T, keys ...*testKey) *jwksServer {
	t.Helper()
	s := &jwksServer{status: http.StatusOK}
	s.set(keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		block, status := s.block, s.status
		body, _ := json.Marshal(map[string]any{"keys": s.keys})
		s.mu.Unlock()
		if block != nil {
			<-block
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(keys ...*testKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = nil
	for _, k := range keys {
		s.keys = append(s.keys, k.jwk)
	}
}

// newVerifier returns a Verifier of s's key set on clock c, with the
// issuer and audience of claimsAt.
func newVerifier(t *testing.T, s *jwksServer, c *clock, deny *DenySet) *Verifier {
	t.Helper()
	v, err := New(Options{
		JWKSURL: s.URL, Issuer: "https://auth.example.com", Audience: "api",
		Now: c.Now, Deny: deny,
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func ctx(t *testing.T) context.Context { return t.Context() }
