package token

import (
	"encoding/base64"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

var algs = []string{"RS256", "ES256", "EdDSA"}

func TestKindString(t *testing.T) {
	tests := []struct {
		kind Kind
		want string
	}{
		{Access, "access"},
		{Refresh, "refresh"},
		{Kind(0), "Kind(0)"},
		{Kind(7), "Kind(7)"},
	}
	for _, tt := range tests {
		if got := tt.kind.String(); got != tt.want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(tt.kind), got, tt.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			f := newFixture(t, alg)

			tok, want, err := f.s.signAccess(testSub, testSid, Assurance{})
			if err != nil {
				t.Fatalf("Access: %v", err)
			}
			got, err := f.s.Verify(Access, tok)
			if err != nil {
				t.Fatalf("Verify(Access): %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Verify(Access) = %+v, want %+v", got, want)
			}
			if want.ExpiresAt.Sub(want.IssuedAt) != testTTL {
				t.Errorf("access lifetime = %s, want %s", want.ExpiresAt.Sub(want.IssuedAt), testTTL)
			}
			checkHeader(t, tok, f.access, "at+jwt")
			p := decodeSegment(t, tok, 1)
			if _, ok := p["gen"]; ok {
				t.Errorf("access token has gen")
			}
			jti, err := base64.RawURLEncoding.DecodeString(want.ID)
			if err != nil || len(jti) != 16 {
				t.Errorf("jti %q: %d bytes, err %v; want 16 bytes of base64url", want.ID, len(jti), err)
			}
			if tok2, _ := f.s.Access(testSub, testSid); tok2 == tok {
				t.Errorf("two access tokens are identical")
			}

			jti2, err := newJTI()
			if err != nil {
				t.Fatal(err)
			}
			expires := f.now.Add(30 * time.Minute)
			tok, want, err = f.s.signRefresh(testSub, testSid, 7, jti2, expires)
			if err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			got, err = f.s.Verify(Refresh, tok)
			if err != nil {
				t.Fatalf("Verify(Refresh): %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Verify(Refresh) = %+v, want %+v", got, want)
			}
			if got.Generation != 7 || got.ID != jti2 || !got.ExpiresAt.Equal(expires) {
				t.Errorf("refresh claims = %+v, want gen 7, jti %q, exp %s", got, jti2, expires)
			}
			checkHeader(t, tok, f.refresh, "rt+jwt")
		})
	}
}

// checkHeader checks the header and the shape of the claims.
func checkHeader(t *testing.T, tok string, ks *KeySet, typ string) {
	t.Helper()
	h := decodeSegment(t, tok, 0)
	want := map[string]any{"alg": ks.Alg(), "kid": ks.KID(), "typ": typ}
	if len(h) != len(want) {
		t.Errorf("header = %v, want %v", h, want)
	}
	for k, v := range want {
		if h[k] != v {
			t.Errorf("header[%q] = %v, want %v", k, h[k], v)
		}
	}
	p := decodeSegment(t, tok, 1)
	if p["aud"] != testAudience {
		t.Errorf("aud = %#v, want the single string %q", p["aud"], testAudience)
	}
	if p["iss"] != testIssuer {
		t.Errorf("iss = %#v, want %q", p["iss"], testIssuer)
	}
	if p["iat"] != p["nbf"] || p["iat"] == nil {
		t.Errorf("iat = %v, nbf = %v, want equal", p["iat"], p["nbf"])
	}
	for _, name := range []string{"sub", "sid", "jti", "exp"} {
		if _, ok := p[name]; !ok {
			t.Errorf("claim %q missing", name)
		}
	}
}

func TestVerifyForged(t *testing.T) {
	type edit = func(h, c map[string]any)
	set := func(m string, name string, v any) edit {
		return func(h, c map[string]any) {
			if m == "h" {
				h[name] = v
			} else {
				c[name] = v
			}
		}
	}
	del := func(m string, name string) edit {
		return func(h, c map[string]any) {
			if m == "h" {
				delete(h, name)
			} else {
				delete(c, name)
			}
		}
	}
	tests := []struct {
		name    string
		verify  Kind // kind passed to Verify
		forge   Kind // kind whose key, header and claims are used
		edit    edit
		rsaOnly bool
		ok      bool
	}{
		{name: "access as forged", verify: Access, forge: Access, ok: true},
		{name: "refresh as forged", verify: Refresh, forge: Refresh, ok: true},
		{name: "aud array with ours", verify: Access, forge: Access, edit: set("c", "aud", []string{"other", testAudience}), ok: true},
		{name: "exp within leeway", verify: Access, forge: Access, edit: set("c", "exp", testTime.Add(-testLeeway/2).Unix()), ok: true},
		{name: "nbf within leeway", verify: Access, forge: Access, edit: set("c", "nbf", testTime.Add(testLeeway/2).Unix()), ok: true},
		{name: "iat within leeway", verify: Access, forge: Access, edit: set("c", "iat", testTime.Add(testLeeway/2).Unix()), ok: true},
		{name: "refresh gen 0", verify: Refresh, forge: Refresh, edit: set("c", "gen", 0), ok: true},

		// typ
		{name: "typ JWT", verify: Access, forge: Access, edit: set("h", "typ", "JWT")},
		{name: "typ missing", verify: Access, forge: Access, edit: del("h", "typ")},
		{name: "typ not exact", verify: Access, forge: Access, edit: set("h", "typ", "application/at+jwt")},
		{name: "typ upper case", verify: Access, forge: Access, edit: set("h", "typ", "AT+JWT")},
		{name: "typ not a string", verify: Access, forge: Access, edit: set("h", "typ", 1)},
		{name: "typ rt+jwt as access", verify: Access, forge: Access, edit: set("h", "typ", "rt+jwt")},
		{name: "typ at+jwt as refresh", verify: Refresh, forge: Refresh, edit: set("h", "typ", "at+jwt")},
		{name: "access token as refresh", verify: Refresh, forge: Access, edit: set("c", "gen", 1)},
		{name: "refresh token as access", verify: Access, forge: Refresh},

		// header parameters we never trust
		{name: "crit", verify: Access, forge: Access, edit: set("h", "crit", []string{"exp"})},
		{name: "crit empty", verify: Access, forge: Access, edit: set("h", "crit", []string{})},
		{name: "jku", verify: Access, forge: Access, edit: set("h", "jku", "https://evil.test/jwks.json")},
		{name: "x5u", verify: Access, forge: Access, edit: set("h", "x5u", "https://evil.test/cert.pem")},
		{name: "jwk", verify: Access, forge: Access, edit: set("h", "jwk", map[string]any{"kty": "oct", "k": "AAAA"})},
		{name: "x5c", verify: Access, forge: Access, edit: set("h", "x5c", []string{"MIIB"})},
		{name: "cty", verify: Access, forge: Access, edit: set("h", "cty", "JWT")},

		// kid
		{name: "kid missing", verify: Access, forge: Access, edit: del("h", "kid")},
		{name: "kid unknown", verify: Access, forge: Access, edit: set("h", "kid", "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")},
		{name: "kid empty", verify: Access, forge: Access, edit: set("h", "kid", "")},
		{name: "kid not a string", verify: Access, forge: Access, edit: set("h", "kid", 1)},
		// refresh key, kid and claims with an access typ: the access set must not look in the refresh set.
		{name: "kid of refresh set as access", verify: Access, forge: Refresh, edit: func(h, c map[string]any) { h["typ"] = "at+jwt"; delete(c, "gen") }},
		{name: "kid of access set as refresh", verify: Refresh, forge: Access, edit: func(h, c map[string]any) { h["typ"] = "rt+jwt"; c["gen"] = 1 }},

		// alg
		{name: "alg RS384 same key", verify: Access, forge: Access, edit: set("h", "alg", "RS384"), rsaOnly: true},
		{name: "alg RS512 same key", verify: Access, forge: Access, edit: set("h", "alg", "RS512"), rsaOnly: true},
		{name: "alg PS256 same key", verify: Access, forge: Access, edit: set("h", "alg", "PS256"), rsaOnly: true},
		{name: "alg HS256 public key as secret", verify: Access, forge: Access, edit: set("h", "alg", "HS256")},
		{name: "alg none", verify: Access, forge: Access, edit: set("h", "alg", "none")},
		{name: "alg missing", verify: Access, forge: Access, edit: del("h", "alg")},

		// iss, aud
		{name: "iss wrong", verify: Access, forge: Access, edit: set("c", "iss", "https://evil.test")},
		{name: "iss missing", verify: Access, forge: Access, edit: del("c", "iss")},
		{name: "aud wrong", verify: Access, forge: Access, edit: set("c", "aud", "other")},
		{name: "aud array without ours", verify: Access, forge: Access, edit: set("c", "aud", []string{"other"})},
		{name: "aud missing", verify: Access, forge: Access, edit: del("c", "aud")},
		{name: "aud empty", verify: Access, forge: Access, edit: set("c", "aud", "")},

		// times
		{name: "exp missing", verify: Access, forge: Access, edit: del("c", "exp")},
		{name: "exp beyond leeway", verify: Access, forge: Access, edit: set("c", "exp", testTime.Add(-testLeeway-time.Second).Unix())},
		{name: "exp not a number", verify: Access, forge: Access, edit: set("c", "exp", "soon")},
		{name: "iat missing", verify: Access, forge: Access, edit: del("c", "iat")},
		{name: "iat in the future", verify: Access, forge: Access, edit: set("c", "iat", testTime.Add(testLeeway+time.Second).Unix())},
		{name: "nbf missing", verify: Access, forge: Access, edit: del("c", "nbf")},
		{name: "nbf in the future", verify: Access, forge: Access, edit: set("c", "nbf", testTime.Add(testLeeway+time.Second).Unix())},

		// jti, sub, sid
		{name: "jti missing", verify: Access, forge: Access, edit: del("c", "jti")},
		{name: "jti empty", verify: Access, forge: Access, edit: set("c", "jti", "")},
		{name: "jti not a string", verify: Access, forge: Access, edit: set("c", "jti", 5)},
		{name: "sub missing", verify: Access, forge: Access, edit: del("c", "sub")},
		{name: "sub not a uuid", verify: Access, forge: Access, edit: set("c", "sub", "admin")},
		{name: "sub nil uuid", verify: Access, forge: Access, edit: set("c", "sub", uuid.Nil.String())},
		{name: "sub upper case", verify: Access, forge: Access, edit: set("c", "sub", strings.ToUpper(testSub.String()))},
		{name: "sub urn form", verify: Access, forge: Access, edit: set("c", "sub", "urn:uuid:"+testSub.String())},
		{name: "sid missing", verify: Access, forge: Access, edit: del("c", "sid")},
		{name: "sid not a uuid", verify: Access, forge: Access, edit: set("c", "sid", "x")},
		{name: "sid not a string", verify: Access, forge: Access, edit: set("c", "sid", 12)},

		// gen
		{name: "refresh gen missing", verify: Refresh, forge: Refresh, edit: del("c", "gen")},
		{name: "refresh gen negative", verify: Refresh, forge: Refresh, edit: set("c", "gen", -1)},
		{name: "refresh gen fraction", verify: Refresh, forge: Refresh, edit: set("c", "gen", 1.5)},
		{name: "refresh gen string", verify: Refresh, forge: Refresh, edit: set("c", "gen", "1")},
		{name: "refresh gen null", verify: Refresh, forge: Refresh, edit: set("c", "gen", nil)},
	}
	for _, alg := range algs {
		f := newFixture(t, alg)
		for _, tt := range tests {
			if tt.rsaOnly && alg != "RS256" {
				continue
			}
			t.Run(alg+"/"+tt.name, func(t *testing.T) {
				tok := f.forge(t, tt.forge, tt.edit)
				got, err := f.s.Verify(tt.verify, tok)
				if tt.ok {
					if err != nil {
						t.Fatalf("Verify: %v, want success", err)
					}
					if got.Subject != testSub || got.Session != testSid || got.Kind != tt.verify {
						t.Errorf("Verify = %+v, want sub %s, sid %s, kind %s", got, testSub, testSid, tt.verify)
					}
					return
				}
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("Verify = %+v, %v; want ErrInvalid", got, err)
				}
				if !reflect.DeepEqual(got, Claims{}) {
					t.Errorf("Verify returned claims %+v with an error", got)
				}
			})
		}
	}
}

func TestVerifyLength(t *testing.T) {
	f := newFixture(t, "EdDSA")
	// Correctly signed tokens padded with an extra claim: the longest one
	// within the limit and the shortest one over it.
	padded := func(n int) string {
		return f.forge(t, Access, func(h, c map[string]any) { c["pad"] = strings.Repeat("a", n) })
	}
	n := (MaxTokenLen - len(padded(0))) * 3 / 4
	for len(padded(n+1)) <= MaxTokenLen {
		n++
	}
	for len(padded(n)) > MaxTokenLen {
		n--
	}
	tests := []struct {
		tok string
		ok  bool
	}{
		{padded(n), true},
		{padded(n + 1), false},
		{padded(4 * MaxTokenLen), false},
	}
	for _, tt := range tests {
		_, err := f.s.Verify(Access, tt.tok)
		if got := err == nil; got != tt.ok {
			t.Errorf("Verify(%d-byte token) error = %v, want ok %v", len(tt.tok), err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("error %v does not wrap ErrInvalid", err)
		}
	}
	if got := len(tests[0].tok); got < MaxTokenLen-3 {
		t.Errorf("longest accepted token is %d bytes, want about %d", got, MaxTokenLen)
	}
}

func TestVerifyGarbage(t *testing.T) {
	f := newFixture(t, "RS256")
	good, err := f.s.Access(testSub, testSid)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	other := newFixture(t, "ES256") // same issuer, different keys
	stranger, err := other.s.Access(testSub, testSid)
	if err != nil {
		t.Fatal(err)
	}
	// Same signature bytes, non-zero trailing bits in the last character.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, good[len(good)-1])
	loose := good[:len(good)-1] + string(alphabet[last|1])
	tampered := f.forge(t, Access, func(h, c map[string]any) { c["sub"] = uuid.NewString() })
	tests := []struct {
		name string
		tok  string
	}{
		{"empty", ""},
		{"space", " "},
		{"dots", ".."},
		{"many dots", "...."},
		{"abc", "a.b.c"},
		{"two parts", parts[0] + "." + parts[1]},
		{"four parts", good + ".x"},
		{"five parts (JWE shape)", good + ".x.y"},
		{"no signature", parts[0] + "." + parts[1] + "."},
		{"padded signature", good + "=="},
		{"bearer prefix", "Bearer " + good},
		{"trailing space", good + " "},
		{"standard base64", strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+/"},
		{"not json", b64url([]byte("hello")) + "." + b64url([]byte("world")) + "." + parts[2]},
		{"json array header", b64url([]byte("[]")) + "." + parts[1] + "." + parts[2]},
		{"swapped payload", parts[0] + "." + strings.Split(tampered, ".")[1] + "." + parts[2]},
		{"other keys", stranger},
		{"non-canonical base64", loose},
		{"binary", string([]byte{0, 0xff, '.', 0xfe, '.', 1})},
		{"unknown alg", b64url([]byte(`{"alg":"XS256","kid":"`+f.access.KID()+`","typ":"at+jwt"}`)) + "." + parts[1] + "." + parts[2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, kind := range []Kind{Access, Refresh} {
				got, err := f.s.Verify(kind, tt.tok)
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("Verify(%s) = %+v, %v; want ErrInvalid", kind, got, err)
				}
			}
		})
	}
	if _, err := f.s.Verify(Kind(0), good); !errors.Is(err, ErrInvalid) {
		t.Errorf("Verify(Kind(0)) error = %v, want ErrInvalid", err)
	}
	if _, err := f.s.Verify(Access, good); err != nil {
		t.Errorf("Verify(good) = %v, want success", err)
	}
}

// The per-kid alg pin on its own, without the parser's method list.
func TestKeyfuncPinsAlg(t *testing.T) {
	f := newFixture(t, "RS256")
	tests := []struct {
		alg string
		ok  bool
	}{
		{"RS256", true},
		{"RS384", false},
		{"RS512", false},
		{"PS256", false},
		{"HS256", false},
		{"ES256", false},
		{"none", false},
	}
	for _, tt := range tests {
		tok := &jwt.Token{
			Header: map[string]any{"alg": tt.alg, "kid": f.access.KID(), "typ": "at+jwt"},
			Method: jwt.GetSigningMethod(tt.alg),
		}
		key, err := f.s.accessKey(tok)
		if got := err == nil; got != tt.ok {
			t.Errorf("keyfunc(alg %s) = %v, %v; want ok %v", tt.alg, key, err, tt.ok)
		}
	}
}

// The parser's method list on its own, with a keyfunc that trusts anything.
func TestParserValidMethods(t *testing.T) {
	f := newFixture(t, "RS256")
	trusting := func(*jwt.Token) (any, error) { return f.private[0].Public(), nil }
	for _, tt := range []struct {
		alg string
		ok  bool
	}{
		{"RS256", true},
		{"RS384", false},
		{"PS256", false},
	} {
		tok := f.forge(t, Access, func(h, c map[string]any) { h["alg"] = tt.alg })
		_, err := f.s.parser.ParseWithClaims(tok, &claims{}, trusting)
		if got := err == nil; got != tt.ok {
			t.Errorf("parse alg %s: error %v, want ok %v", tt.alg, err, tt.ok)
		}
	}
}

func TestVerifyClock(t *testing.T) {
	f := newFixture(t, "ES256")
	tok, err := f.s.Access(testSub, testSid)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		now  time.Time
		ok   bool
	}{
		{"at issue", testTime, true},
		{"just before expiry", testTime.Add(testTTL - time.Second), true},
		{"expired within leeway", testTime.Add(testTTL + testLeeway - time.Second), true},
		{"expired beyond leeway", testTime.Add(testTTL + testLeeway), false},
		{"issued within leeway in the future", testTime.Add(-testLeeway), true},
		{"issued beyond leeway in the future", testTime.Add(-testLeeway - time.Second), false},
	}
	for _, tt := range tests {
		f.now = tt.now
		_, err := f.s.Verify(Access, tok)
		if got := err == nil; got != tt.ok {
			t.Errorf("%s: Verify error = %v, want ok %v", tt.name, err, tt.ok)
		}
	}

	// Without the injected clock the 2030 token is not valid yet.
	o := f.options()
	o.Now = nil
	real, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := real.Verify(Access, tok); !errors.Is(err, ErrInvalid) {
		t.Errorf("Verify with the real clock = %v, want ErrInvalid", err)
	}
}

func TestSignErrors(t *testing.T) {
	f := newFixture(t, "EdDSA")
	if _, err := f.s.Access(uuid.Nil, testSid); err == nil {
		t.Errorf("Access(nil sub) succeeded")
	}
	if _, err := f.s.Access(testSub, uuid.Nil); err == nil {
		t.Errorf("Access(nil sid) succeeded")
	}
	later := testTime.Add(time.Minute)
	tests := []struct {
		name     string
		sub, sid uuid.UUID
		gen      int64
		jti      string
		expires  time.Time
	}{
		{"nil sub", uuid.Nil, testSid, 0, "j", later},
		{"nil sid", testSub, uuid.Nil, 0, "j", later},
		{"negative gen", testSub, testSid, -1, "j", later},
		{"empty jti", testSub, testSid, 0, "", later},
		{"expires now", testSub, testSid, 0, "j", testTime},
		{"expires within a second", testSub, testSid, 0, "j", testTime.Add(500 * time.Millisecond)},
		{"expired", testSub, testSid, 0, "j", testTime.Add(-time.Hour)},
		{"zero time", testSub, testSid, 0, "j", time.Time{}},
	}
	for _, tt := range tests {
		if tok, err := f.s.Refresh(tt.sub, tt.sid, tt.gen, tt.jti, tt.expires); err == nil {
			t.Errorf("Refresh(%s) = %q, want error", tt.name, tok)
		}
	}
}

func TestRefreshExpiryCapped(t *testing.T) {
	f := newFixture(t, "ES256")
	_, c, err := f.s.signRefresh(testSub, testSid, 1, "j", testTime.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.ExpiresAt, testTime.Add(time.Hour); !got.Equal(want) {
		t.Errorf("ExpiresAt = %s, want %s (now + RefreshTTL)", got, want)
	}
}

func TestNewOptions(t *testing.T) {
	f := newFixture(t, "EdDSA")
	accessAgain := mustKeySet(t, f.private[0])
	withAccessExtra := mustKeySet(t, f.private[1], f.private[0].Public())
	tests := []struct {
		name string
		edit func(o *Options)
		want string // part of the error; empty means success
	}{
		{"valid", func(o *Options) {}, ""},
		{"zero leeway", func(o *Options) { o.Leeway = 0 }, ""},
		{"max leeway", func(o *Options) { o.Leeway = MaxLeeway }, ""},
		{"leeway too large", func(o *Options) { o.Leeway = MaxLeeway + time.Second }, "leeway"},
		{"negative leeway", func(o *Options) { o.Leeway = -time.Second }, "leeway"},
		{"no access keys", func(o *Options) { o.Access = nil }, "access keys"},
		{"no refresh keys", func(o *Options) { o.Refresh = nil }, "refresh keys"},
		{"same keys", func(o *Options) { o.Refresh = accessAgain }, "must differ"},
		{"refresh extra is the access key", func(o *Options) { o.Refresh = withAccessExtra }, "must differ"},
		{"no issuer", func(o *Options) { o.Issuer = "" }, "issuer"},
		{"no audience", func(o *Options) { o.Audience = "" }, "audience"},
		{"zero access TTL", func(o *Options) { o.AccessTTL = 0 }, "access TTL"},
		{"negative refresh TTL", func(o *Options) { o.RefreshTTL = -time.Minute }, "refresh TTL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := f.options()
			tt.edit(&o)
			s, err := New(o)
			if tt.want == "" {
				if err != nil || s == nil {
					t.Fatalf("New = %v, %v; want success", s, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}

	// Every problem is reported at once.
	_, err := New(Options{})
	for _, want := range []string{"access keys", "refresh keys", "issuer", "audience", "access TTL", "refresh TTL"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(Options{}) error = %v, want it to mention %q", err, want)
		}
	}
}

func TestRetiredKey(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			keys := privateKeys(t, alg)
			old := newFixture(t, alg)
			old.access = mustKeySet(t, keys[2]) // the retired key, still signing
			var err error
			if old.s, err = New(old.options()); err != nil {
				t.Fatal(err)
			}
			tok, want, err := old.s.signAccess(testSub, testSid, Assurance{})
			if err != nil {
				t.Fatal(err)
			}

			cur := newFixture(t, alg) // signs with keys[0], no extra
			if _, err := cur.s.Verify(Access, tok); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Verify without the retired key = %v, want ErrInvalid", err)
			}
			// Refresh extras must not help access tokens.
			cur.refresh = mustKeySet(t, keys[1], keys[2].Public())
			if cur.s, err = New(cur.options()); err != nil {
				t.Fatal(err)
			}
			if _, err := cur.s.Verify(Access, tok); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Verify with the retired key in the refresh set = %v, want ErrInvalid", err)
			}

			cur.refresh = mustKeySet(t, keys[1])
			cur.access = mustKeySet(t, keys[0], keys[2].Public())
			if cur.s, err = New(cur.options()); err != nil {
				t.Fatal(err)
			}
			got, err := cur.s.Verify(Access, tok)
			if err != nil {
				t.Fatalf("Verify with the retired key in extra: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Verify = %+v, want %+v", got, want)
			}
			if got, want := jwksKids(t, cur.s.JWKS()), []string{cur.access.KID(), old.access.KID()}; !slices.Equal(got, want) {
				t.Errorf("JWKS kids = %v, want %v", got, want)
			}
			// New tokens are signed with the current key.
			tok, err = cur.s.Access(testSub, testSid)
			if err != nil {
				t.Fatal(err)
			}
			if kid := decodeSegment(t, tok, 0)["kid"]; kid != cur.access.KID() {
				t.Errorf("new token kid = %v, want %s", kid, cur.access.KID())
			}
		})
	}
}

// A P-256 key in the RSA access set adds ES256 to the accepted methods; an
// RSA kid must still refuse an ES256 token.
func TestMixedKeySet(t *testing.T) {
	f := newFixture(t, "RS256")
	ec := getKeys(t).ec[2]
	f.access = mustKeySet(t, f.private[0], ec.Public())
	var err error
	if f.s, err = New(f.options()); err != nil {
		t.Fatal(err)
	}
	ecKS := mustKeySet(t, ec)
	h := f.header(Access)
	c := f.claims(Access)

	h["alg"], h["kid"] = "ES256", ecKS.KID()
	if _, err := f.s.Verify(Access, sign(t, jwt.SigningMethodES256, ec, h, c)); err != nil {
		t.Errorf("ES256 token under the EC kid: %v, want success", err)
	}
	h["kid"] = f.access.KID()
	if _, err := f.s.Verify(Access, sign(t, jwt.SigningMethodES256, ec, h, c)); !errors.Is(err, ErrInvalid) {
		t.Errorf("ES256 token under the RSA kid: %v, want ErrInvalid", err)
	}
}

func FuzzVerify(f *testing.F) {
	fx := newFixture(f, "EdDSA")
	access, err := fx.s.Access(testSub, testSid)
	if err != nil {
		f.Fatal(err)
	}
	refresh, err := fx.s.Refresh(testSub, testSid, 1, "jti", testTime.Add(time.Minute))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{access, refresh, "", "a.b.c", "..", access + "x", refresh[:len(refresh)/2]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		for _, kind := range []Kind{Access, Refresh} {
			c, err := fx.s.Verify(kind, tok)
			if err != nil {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("Verify(%s) error %v does not wrap ErrInvalid", kind, err)
				}
				continue
			}
			if c.Subject == uuid.Nil || c.Session == uuid.Nil || c.Kind != kind || c.ID == "" {
				t.Errorf("Verify(%s) = %+v: accepted with missing claims", kind, c)
			}
		}
	})
}

func BenchmarkSign(b *testing.B) {
	for _, alg := range algs {
		b.Run(alg, func(b *testing.B) {
			f := newFixture(b, alg)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.s.Access(testSub, testSid); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSignParallel signs on every processor at once: ns/op is wall
// time per signature with all of them busy, which shows whether the cores
// really scale (on shared or hyperthreaded machines they may not).
func BenchmarkSignParallel(b *testing.B) {
	for _, alg := range algs {
		b.Run(alg, func(b *testing.B) {
			f := newFixture(b, alg)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := f.s.Access(testSub, testSid); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkVerify checks one access token over and over: "full" with the
// cache of verified tokens off (every call checks the signature), "cached"
// with it on (every call after the first is a hit).
func BenchmarkVerify(b *testing.B) {
	for _, alg := range algs {
		for _, mode := range []string{"full", "cached"} {
			b.Run(alg+"/"+mode, func(b *testing.B) {
				f := newFixture(b, alg)
				if mode == "full" {
					f.s.cache = nil
				}
				tok, err := f.s.Access(testSub, testSid)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := f.s.Verify(Access, tok); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestAssurance: aal, amr and auth_time go into an access token and come
// back; a token signed without them has none of the claims.
func TestAssurance(t *testing.T) {
	f := newFixture(t, "RS256")
	at := f.now.Add(-time.Minute)
	a := Assurance{AAL: 2, AMR: []string{"pwd", "otp"}, AuthTime: at}
	tok, err := f.s.AccessWith(testSub, testSid, a)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.s.Verify(Access, tok)
	if err != nil {
		t.Fatal(err)
	}
	a.AuthTime = seconds(at)
	if !reflect.DeepEqual(got.Assurance, a) {
		t.Errorf("assurance = %+v, want %+v", got.Assurance, a)
	}
	p := decodeSegment(t, tok, 1)
	if p["aal"] != float64(2) || p["auth_time"] != float64(at.Unix()) {
		t.Errorf("payload aal %v auth_time %v", p["aal"], p["auth_time"])
	}
	plain, _ := f.s.Access(testSub, testSid)
	for _, k := range []string{"aal", "amr", "auth_time"} {
		if _, ok := decodeSegment(t, plain, 1)[k]; ok {
			t.Errorf("token without assurance has %s", k)
		}
	}
}

// TestRoleClaim: a role goes into an access token as the role claim and
// comes back from Verify; without one the claim is left out.
func TestRoleClaim(t *testing.T) {
	f := newFixture(t, "ES256")
	tok, err := f.s.AccessWith(testSub, testSid, Assurance{AAL: 1, AMR: []string{"pwd"}, Role: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	if p := decodeSegment(t, tok, 1); p["role"] != "admin" {
		t.Errorf("payload role = %v, want admin", p["role"])
	}
	got, err := f.s.Verify(Access, tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.Assurance.Role != "admin" {
		t.Errorf("verified role = %q, want admin", got.Assurance.Role)
	}
	plain, err := f.s.AccessWith(testSub, testSid, Assurance{AAL: 1, AMR: []string{"pwd"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := decodeSegment(t, plain, 1)["role"]; ok {
		t.Error("token without a role has the role claim")
	}
}
