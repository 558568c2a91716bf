package verify

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"go/build"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestVerifyAlgorithms(t *testing.T) {
	c := newClock()
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			k := newKey(t, alg, "k-"+alg)
			v := newVerifier(t, newJWKSServer(t, k), c, nil)
			claims := claimsAt(c.Now())
			claims["role"] = "admin"
			got, err := v.Verify(ctx(t), k.sign(t, claims, nil))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			now := c.Now().UTC()
			want := Claims{
				Subject: testSub, Session: testSid, ID: "3q2-7wAAAAAAAAAAAAAAAA",
				Issuer: "https://auth.example.com", IssuedAt: now, NotBefore: now,
				ExpiresAt: now.Add(15 * time.Minute), AAL: 1, AMR: []string{"pwd"},
				AuthTime: now, Role: "admin",
			}
			if fmt.Sprint(*got) != fmt.Sprint(want) {
				t.Errorf("claims\n got %+v\nwant %+v", *got, want)
			}
		})
	}
}

// TestVerifyRefuses: each token is refused with ErrInvalid.
func TestVerifyRefuses(t *testing.T) {
	c := newClock()
	rs := newKey(t, "RS256", "rsa")
	es := newKey(t, "ES256", "ec")
	other := newKey(t, "ES256", "ec") // same kid, a key authd never published
	v := newVerifier(t, newJWKSServer(t, rs, es), c, nil)
	now := c.Now()
	with := func(k string, val any) jwt.MapClaims {
		m := claimsAt(now)
		if val == nil {
			delete(m, k)
		} else {
			m[k] = val
		}
		return m
	}
	header := func(k string, val any) func(*jwt.Token) {
		return func(tok *jwt.Token) {
			if val == nil {
				delete(tok.Header, k)
			} else {
				tok.Header[k] = val
			}
		}
	}
	good := es.sign(t, claimsAt(now), nil)
	parts := strings.Split(good, ".")
	noneTok := func() string {
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"ec","typ":"at+jwt"}`))
		return h + "." + parts[1] + "."
	}()
	// HS256 keyed by the RSA public key's bytes: the classic confusion.
	hsTok := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claimsAt(now))
		tok.Header["typ"], tok.Header["kid"] = "at+jwt", "rsa"
		s, err := tok.SignedString([]byte(rs.jwk["n"]))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	// RS384 with the RS256 key.
	rs384 := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS384, claimsAt(now))
		tok.Header["typ"], tok.Header["kid"] = "at+jwt", "rsa"
		s, err := tok.SignedString(rs.priv)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	tampered := func() string {
		p, _ := base64.RawURLEncoding.DecodeString(parts[1])
		p = []byte(strings.Replace(string(p), testSub, "11111111-1111-4111-8111-111111111111", 1))
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(p) + "." + parts[2]
	}()

	for _, tc := range []struct {
		name, token string
	}{
		{"alg none", noneTok},
		{"HS256 with the RSA key", hsTok},
		{"RS384 with an RS256 key", rs384},
		{"ES256 under the RSA key's kid", es.sign(t, claimsAt(now), header("kid", "rsa"))},
		{"a key authd never published", other.sign(t, claimsAt(now), nil)},
		{"tampered payload", tampered},
		{"refresh typ", es.sign(t, claimsAt(now), header("typ", "rt+jwt"))},
		{"no typ", es.sign(t, claimsAt(now), header("typ", nil))},
		{"JWT typ", es.sign(t, claimsAt(now), header("typ", "JWT"))},
		{"no kid", es.sign(t, claimsAt(now), header("kid", nil))},
		{"crit", es.sign(t, claimsAt(now), header("crit", []string{"exp"}))},
		{"expired", es.sign(t, with("exp", now.Add(-10*time.Second).Unix()), nil)},
		{"no exp", es.sign(t, with("exp", nil), nil)},
		{"nbf ahead", es.sign(t, with("nbf", now.Add(time.Minute).Unix()), nil)},
		{"no nbf", es.sign(t, with("nbf", nil), nil)},
		{"iat ahead", es.sign(t, with("iat", now.Add(time.Minute).Unix()), nil)},
		{"no iat", es.sign(t, with("iat", nil), nil)},
		{"wrong issuer", es.sign(t, with("iss", "https://evil.example.com"), nil)},
		{"no issuer", es.sign(t, with("iss", nil), nil)},
		{"wrong audience", es.sign(t, with("aud", "other-api"), nil)},
		{"no audience", es.sign(t, with("aud", nil), nil)},
		{"no jti", es.sign(t, with("jti", nil), nil)},
		{"no sid", es.sign(t, with("sid", nil), nil)},
		{"sid not a UUID", es.sign(t, with("sid", "abc"), nil)},
		{"sub upper case", es.sign(t, with("sub", strings.ToUpper(testSub)), nil)},
		{"nil sub", es.sign(t, with("sub", "00000000-0000-0000-0000-000000000000"), nil)},
		{"aal 4", es.sign(t, with("aal", 4), nil)},
		{"too long", es.sign(t, with("pad", strings.Repeat("a", MaxTokenLen)), nil)},
		{"garbage", "not.a.token"},
		{"empty", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := v.Verify(ctx(t), tc.token)
			if !errors.Is(err, ErrInvalid) || got != nil {
				t.Errorf("Verify = %v, %v; want ErrInvalid", got, err)
			}
		})
	}
	t.Run("the good one", func(t *testing.T) {
		if _, err := v.Verify(ctx(t), good); err != nil {
			t.Errorf("Verify: %v", err)
		}
	})
}

// TestVerifyLeeway: exp, nbf and iat are allowed the leeway (5 s by
// default), and not more.
func TestVerifyLeeway(t *testing.T) {
	c := newClock()
	k := newKey(t, "EdDSA", "ed")
	v := newVerifier(t, newJWKSServer(t, k), c, nil)
	tok := k.sign(t, claimsAt(c.Now()), nil)
	c.Add(15*time.Minute + 4*time.Second)
	if _, err := v.Verify(ctx(t), tok); err != nil {
		t.Errorf("4 s after exp: %v", err)
	}
	c.Add(2 * time.Second)
	if _, err := v.Verify(ctx(t), tok); !errors.Is(err, ErrInvalid) {
		t.Errorf("6 s after exp: %v, want ErrInvalid", err)
	}
	ahead := claimsAt(c.Now().Add(4 * time.Second))
	if _, err := v.Verify(ctx(t), k.sign(t, ahead, nil)); err != nil {
		t.Errorf("issued 4 s ahead: %v", err)
	}
}

// TestVerifyUnknownKidRefetches: a token signed with a key that authd
// published after the Verifier fetched the key set is accepted after one
// more fetch.
func TestVerifyUnknownKidRefetches(t *testing.T) {
	c := newClock()
	old, next := newKey(t, "ES256", "old"), newKey(t, "ES256", "next")
	s := newJWKSServer(t, old)
	v := newVerifier(t, s, c, nil)
	if _, err := v.Verify(ctx(t), old.sign(t, claimsAt(c.Now()), nil)); err != nil {
		t.Fatal(err)
	}
	if got := s.hits.Load(); got != 1 {
		t.Fatalf("%d fetches after the first token, want 1", got)
	}
	if _, err := v.Verify(ctx(t), old.sign(t, claimsAt(c.Now()), nil)); err != nil || s.hits.Load() != 1 {
		t.Fatalf("a known kid: %v, %d fetches; want nil, 1 (cached)", err, s.hits.Load())
	}

	s.set(old, next) // authd rotates
	c.Add(DefaultMinRefreshInterval)
	if _, err := v.Verify(ctx(t), next.sign(t, claimsAt(c.Now()), nil)); err != nil {
		t.Fatalf("the new key: %v", err)
	}
	if got := s.hits.Load(); got != 2 {
		t.Errorf("%d fetches, want 2", got)
	}
	s.set(next) // the old key retired: its tokens go at the next fetch
	c.Add(DefaultMaxAge)
	v.Refresh(ctx(t))
	if _, err := v.Verify(ctx(t), old.sign(t, claimsAt(c.Now()), nil)); !errors.Is(err, ErrInvalid) {
		t.Errorf("a retired key: %v, want ErrInvalid", err)
	}
}

// TestVerifyUnknownKidFlood: many tokens with made-up kids, at once,
// cost authd one fetch per MinRefreshInterval, and none within it.
func TestVerifyUnknownKidFlood(t *testing.T) {
	c := newClock()
	k := newKey(t, "ES256", "real")
	s := newJWKSServer(t, k)
	v := newVerifier(t, s, c, nil)
	if _, err := v.Verify(ctx(t), k.sign(t, claimsAt(c.Now()), nil)); err != nil {
		t.Fatal(err)
	}
	flood := func() {
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				kid := make([]byte, 16)
				rand.Read(kid)
				tok := k.sign(t, claimsAt(c.Now()), func(tok *jwt.Token) { tok.Header["kid"] = b64(kid) })
				if _, err := v.Verify(ctx(t), tok); !errors.Is(err, ErrInvalid) {
					t.Errorf("made-up kid: %v, want ErrInvalid", err)
				}
			})
		}
		wg.Wait()
	}
	flood()
	if got := s.hits.Load(); got != 1 {
		t.Errorf("within the interval: %d fetches, want 1 (the first)", got)
	}
	c.Add(DefaultMinRefreshInterval)
	flood()
	if got := s.hits.Load(); got != 2 {
		t.Errorf("after the interval: %d fetches, want 2", got)
	}
	flood()
	if got := s.hits.Load(); got != 2 {
		t.Errorf("again within the interval: %d fetches, want 2", got)
	}
	if _, err := v.Verify(ctx(t), k.sign(t, claimsAt(c.Now()), nil)); err != nil {
		t.Errorf("the real key after the flood: %v", err)
	}
}

// TestVerifySingleFlight: callers that arrive while the first fetch runs
// wait for it rather than fetch again.
func TestVerifySingleFlight(t *testing.T) {
	c := newClock()
	k := newKey(t, "EdDSA", "ed")
	s := newJWKSServer(t, k)
	s.block = make(chan struct{})
	v := newVerifier(t, s, c, nil)
	tok := k.sign(t, claimsAt(c.Now()), nil)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := v.Verify(ctx(t), tok)
			errs <- err
		})
	}
	// Wait until the one fetch has reached the server, then let it answer.
	for s.hits.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	s.mu.Lock()
	close(s.block)
	s.block = nil
	s.mu.Unlock()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
	if got := s.hits.Load(); got != 1 {
		t.Errorf("%d fetches, want 1", got)
	}
}

// TestVerifyUnavailable: without a key set a token is neither accepted
// nor called invalid; authd is not asked again within the interval.
func TestVerifyUnavailable(t *testing.T) {
	c := newClock()
	k := newKey(t, "ES256", "ec")
	s := newJWKSServer(t, k)
	s.status = http.StatusServiceUnavailable
	v := newVerifier(t, s, c, nil)
	tok := k.sign(t, claimsAt(c.Now()), nil)
	for range 3 {
		if _, err := v.Verify(ctx(t), tok); !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrInvalid) {
			t.Errorf("Verify: %v, want ErrUnavailable", err)
		}
	}
	if err := v.Refresh(ctx(t)); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Refresh: %v, want ErrUnavailable", err)
	}
	if got := s.hits.Load(); got != 1 {
		t.Errorf("%d fetches, want 1", got)
	}
	s.mu.Lock()
	s.status = http.StatusOK
	s.mu.Unlock()
	c.Add(DefaultMinRefreshInterval)
	if _, err := v.Verify(ctx(t), tok); err != nil {
		t.Errorf("once authd answers: %v", err)
	}
}

// TestVerifyStaleKeysRefreshed: a key set older than MaxAge is fetched
// again in the background while the old one keeps serving.
func TestVerifyStaleKeysRefreshed(t *testing.T) {
	c := newClock()
	k := newKey(t, "ES256", "ec")
	s := newJWKSServer(t, k)
	v := newVerifier(t, s, c, nil)
	if _, err := v.Verify(ctx(t), k.sign(t, claimsAt(c.Now()), nil)); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.status = http.StatusInternalServerError
	s.mu.Unlock()
	c.Add(DefaultMaxAge)
	if _, err := v.Verify(ctx(t), k.sign(t, claimsAt(c.Now()), nil)); err != nil {
		t.Errorf("while the key set is fetched again: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.hits.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := s.hits.Load(); got != 2 {
		t.Fatalf("%d fetches, want 2", got)
	}
	// The failed fetch keeps the keys.
	v.Refresh(ctx(t)) // too soon: waits for nothing, fetches nothing
	if _, err := v.Verify(ctx(t), k.sign(t, claimsAt(c.Now()), nil)); err != nil {
		t.Errorf("after a failed fetch: %v", err)
	}
}

func TestVerifyDenied(t *testing.T) {
	c := newClock()
	k := newKey(t, "ES256", "ec")
	deny := NewDenySet(DenyOptions{Now: c.Now})
	v := newVerifier(t, newJWKSServer(t, k), c, deny)
	tok := k.sign(t, claimsAt(c.Now()), nil)
	if _, err := v.Verify(ctx(t), tok); err != nil {
		t.Fatal(err)
	}
	deny.Add("aaaaaaaa-1e0f-4a9b-8c7d-6e5f4a3b2c1d", c.Now().Add(15*time.Minute))
	if _, err := v.Verify(ctx(t), tok); err != nil {
		t.Fatalf("another session revoked: %v", err)
	}
	deny.Add(testSid, c.Now().Add(15*time.Minute))
	_, err := v.Verify(ctx(t), tok)
	if !errors.Is(err, ErrRevoked) || !errors.Is(err, ErrInvalid) {
		t.Errorf("Verify: %v, want ErrRevoked and ErrInvalid", err)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	for _, o := range []Options{
		{},
		{JWKSURL: "file:///etc/passwd"},
		{JWKSURL: "https://a.example/jwks.json", Leeway: time.Minute},
		{JWKSURL: "https://a.example/jwks.json", MinRefreshInterval: -1},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) = nil error", o)
		}
	}
}

func TestParseJWKS(t *testing.T) {
	rs, es, ed := newKey(t, "RS256", "r"), newKey(t, "ES256", "e"), newKey(t, "EdDSA", "d")
	doc := func(keys ...map[string]string) []byte {
		var parts []string
		for _, k := range keys {
			var kv []string
			for name, val := range k {
				kv = append(kv, fmt.Sprintf("%q:%q", name, val))
			}
			slices.Sort(kv)
			parts = append(parts, "{"+strings.Join(kv, ",")+"}")
		}
		return []byte(`{"keys":[` + strings.Join(parts, ",") + `]}`)
	}
	edit := func(k *testKey, name, val string) map[string]string {
		m := map[string]string{}
		for n, v := range k.jwk {
			m[n] = v
		}
		m[name] = val
		return m
	}
	keys, err := parseJWKS(doc(rs.jwk, es.jwk, ed.jwk, edit(es, "use", "enc"), edit(es, "alg", "ES384")))
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for kid, k := range keys {
		kids = append(kids, kid+":"+k.alg)
	}
	slices.Sort(kids)
	if want := []string{"d:EdDSA", "e:ES256", "r:RS256"}; !slices.Equal(kids, want) {
		t.Errorf("kids %v, want %v", kids, want)
	}
	small := newKey(t, "RS256", "small")
	small.jwk["n"] = b64(make([]byte, 128)) // 1024 bits of zeros: too small
	offCurve := edit(es, "y", b64(make([]byte, 32)))
	for name, d := range map[string][]byte{
		"not JSON":        []byte("{"),
		"no keys":         []byte(`{}`),
		"duplicate kid":   doc(es.jwk, edit(ed, "kid", "e")),
		"no kid":          doc(edit(es, "kid", "")),
		"small RSA":       doc(small.jwk),
		"point off curve": doc(offCurve),
		"short Ed25519":   doc(edit(ed, "x", b64(make([]byte, 31)))),
		"x not base64url": doc(edit(ed, "x", "!!!")),
		"RSA e of 1":      doc(edit(rs, "e", b64([]byte{1}))),
	} {
		if _, err := parseJWKS(d); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestImports: the package is for other modules, so it imports only the
// standard library and golang-jwt, never authd's internal packages.
func TestImports(t *testing.T) {
	p, err := build.Default.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range p.Imports {
		first, _, _ := strings.Cut(imp, "/")
		if strings.Contains(first, ".") && imp != "github.com/golang-jwt/jwt/v5" {
			t.Errorf("imports %s", imp)
		}
	}
}
