package token

import (
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func macFixture(t *testing.T, alg string) *fixture {
	t.Helper()
	f := newFixture(t, alg)
	o := f.options()
	o.RefreshJWT = false
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	f.s = s
	return f
}

var testJTI = base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef"))

// TestMACRefreshRoundTrip: a refresh token is a MAC token whose claims read
// back exactly, with no public-key signature in it.
func TestMACRefreshRoundTrip(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			f := macFixture(t, alg)
			tok, want, err := f.s.signRefresh(testSub, testSid, 7, testJTI, f.now.Add(30*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(tok, "rt1.") || strings.Count(tok, ".") != 2 || len(tok) > 200 {
				t.Fatalf("token %q is not a MAC token", tok)
			}
			got, err := f.s.Verify(Refresh, tok)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("claims = %+v, want %+v", got, want)
			}
			if _, err := f.s.Verify(Access, tok); err == nil {
				t.Error("a refresh token verified as an access token")
			}
		})
	}
}

// TestMACRefreshForged: any changed byte, another deployment's key, issuer
// or audience, and expiry are refused; a forgery costs one HMAC.
func TestMACRefreshForged(t *testing.T) {
	f := macFixture(t, "ES256")
	tok, err := f.s.Refresh(testSub, testSid, 1, testJTI, f.now.Add(30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for i := len("rt1."); i < len(tok); i++ {
		if tok[i] == '.' {
			continue
		}
		b := []byte(tok)
		b[i] ^= 1
		if _, err := f.s.Verify(Refresh, string(b)); !errors.Is(err, ErrInvalid) {
			t.Fatalf("byte %d changed: %v", i, err)
		}
	}
	for name, edit := range map[string]func(*Options){
		"refresh key": func(o *Options) { o.Refresh = mustKeySet(t, f.private[2]) },
		"issuer":      func(o *Options) { o.Issuer = "elsewhere" },
		"audience":    func(o *Options) { o.Audience = "elsewhere" },
	} {
		o := f.options()
		o.RefreshJWT = false
		edit(&o)
		s, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Verify(Refresh, tok); !errors.Is(err, ErrInvalid) {
			t.Errorf("another %s verified it: %v", name, err)
		}
	}
	for _, bad := range []string{"rt1.", "rt1..", "rt1.x.y", "rt1." + strings.Repeat("A", 96) + "." + strings.Repeat("A", 43)} {
		if _, err := f.s.Verify(Refresh, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	f.now = f.now.Add(30*time.Minute + testLeeway)
	if _, err := f.s.Verify(Refresh, tok); !errors.Is(err, ErrInvalid) {
		t.Errorf("expired beyond the leeway: %v", err)
	}
}

// TestJWTRefreshStillVerifies: a refresh token signed as a JWT (as
// releases before MAC tokens did) verifies with a signer that issues MAC
// tokens, until it expires.
func TestJWTRefreshStillVerifies(t *testing.T) {
	f := newFixture(t, "RS256") // RefreshJWT: the earlier releases' form
	old, want, err := f.s.signRefresh(testSub, testSid, 3, "legacy-jti", f.now.Add(30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	o := f.options()
	o.RefreshJWT = false
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Verify(Refresh, old)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("JWT refresh token with the MAC signer: %+v %v", got, err)
	}
}

// TestMACRefreshNeedsJTI: a jti that is not 16 bytes of base64url cannot
// be put in a MAC token.
func TestMACRefreshNeedsJTI(t *testing.T) {
	f := macFixture(t, "ES256")
	if _, err := f.s.Refresh(testSub, testSid, 0, "short", f.now.Add(time.Minute)); err == nil {
		t.Error("a short jti was accepted")
	}
}

func BenchmarkRefreshMAC(b *testing.B) {
	f := &fixture{now: testTime, private: privateKeys(b, "RS256")}
	f.access = mustKeySet(b, f.private[0])
	f.refresh = mustKeySet(b, f.private[1])
	o := f.options()
	o.RefreshJWT = false
	s, err := New(o)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("sign", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Refresh(testSub, testSid, 1, testJTI, f.now.Add(time.Hour)); err != nil {
				b.Fatal(err)
			}
		}
	})
	tok, _ := s.Refresh(testSub, testSid, 1, testJTI, f.now.Add(time.Hour))
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Verify(Refresh, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestMACRefreshKeyRotation: with the retired refresh private key given to
// Retire, MAC tokens made with it still verify; with only its public key
// among the verify keys, or nothing, they do not.
func TestMACRefreshKeyRotation(t *testing.T) {
	f := macFixture(t, "ES256")
	old, want, err := f.s.signRefresh(testSub, testSid, 2, testJTI, f.now.Add(30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	rotated := func(retired, extra []string) *Signer {
		ks, err := ParseKeySet(b64PEM(t, f.private[2]), "", extra)
		if err != nil {
			t.Fatal(err)
		}
		if err := ks.Retire(retired); err != nil {
			t.Fatal(err)
		}
		o := f.options()
		o.RefreshJWT = false
		o.Refresh = ks
		s, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if got, err := rotated([]string{b64PEM(t, f.private[1])}, nil).Verify(Refresh, old); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("with the retired private key listed: %+v %v", got, err)
	}
	if _, err := rotated(nil, []string{b64PEM(t, f.private[1].Public())}).Verify(Refresh, old); !errors.Is(err, ErrInvalid) {
		t.Errorf("with only the retired public key listed: %v", err)
	}
	if _, err := rotated(nil, nil).Verify(Refresh, old); !errors.Is(err, ErrInvalid) {
		t.Errorf("with nothing listed: %v", err)
	}
}

// TestOnSign: OnSign counts the private-key signatures: one per access
// token, none for a MAC refresh token, one for a JWT refresh token.
func TestOnSign(t *testing.T) {
	for _, jwtRefresh := range []bool{false, true} {
		f := newFixture(t, "ES256")
		o := f.options()
		o.RefreshJWT = jwtRefresh
		n := 0
		o.OnSign = func() { n++ }
		s, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Access(testSub, testSid); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("after an access token: %d signatures, want 1", n)
		}
		if _, err := s.Refresh(testSub, testSid, 1, testJTI, f.now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		want := 1
		if jwtRefresh {
			want = 2
		}
		if n != want {
			t.Errorf("RefreshJWT=%v: after a refresh token too, %d signatures, want %d", jwtRefresh, n, want)
		}
	}
}
