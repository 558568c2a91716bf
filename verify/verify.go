// Package verify checks authd's access tokens in another service (a
// resource server), and lets that service learn of revoked sessions from
// authd's webhooks.
//
// A Verifier checks a token offline, against the public keys authd
// publishes at /.well-known/jwks.json: the algorithm (only RS256, ES256
// and EdDSA, pinned per key), the key by the token's kid (the key set is
// cached, and fetched again when an unknown kid shows up, at most once per
// MinRefreshInterval), the typ header ("at+jwt": never a refresh token),
// exp, nbf and iat with a small leeway, iss and aud, and the claims authd
// always sets (sub, sid, jti).
//
// Offline checking alone cannot see a logout: a revoked session's access
// token stays valid until it expires (authd's ACCESS_TOKEN_EXPIRED_IN,
// 15 minutes by default). A DenySet closes that gap. Its Handler receives
// authd's signed session.revoked webhooks and remembers each revoked
// session until its last access token expires; a Verifier given the
// DenySet refuses the tokens of those sessions, within about a second of
// the logout. See docs/verifiers.md in authd's repository.
//
// The package needs only the standard library and
// github.com/golang-jwt/jwt/v5.
package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrInvalid is wrapped by every refusal of a token: answer 401. Show a
// client no more than its message; the wrapped detail is for logs.
var ErrInvalid = errors.New("invalid token")

// ErrRevoked is a token whose session the DenySet holds. It wraps
// ErrInvalid.
var ErrRevoked = fmt.Errorf("%w: session revoked", ErrInvalid)

// ErrUnavailable is returned when no key set could be fetched yet, so no
// token can be checked: answer 503, not 401.
var ErrUnavailable = errors.New("authd's key set is unavailable")

// MaxTokenLen: longer tokens (8 KiB, as authd's own limit) are refused
// before parsing.
const MaxTokenLen = 8192

// Defaults of Options.
const (
	DefaultMinRefreshInterval = 10 * time.Second
	DefaultMaxAge             = 5 * time.Minute // authd's JWKS says Cache-Control: max-age=300
	DefaultLeeway             = 5 * time.Second
	MaxLeeway                 = 30 * time.Second // authd's own bound
	DefaultFetchTimeout       = 10 * time.Second
)

// maxJWKSBytes bounds the key set document read from authd.
const maxJWKSBytes = 1 << 20

// algorithms are what authd signs access tokens with.
var algorithms = []string{"RS256", "ES256", "EdDSA"}

// Options configure a Verifier.
type Options struct {
	// JWKSURL is authd's key set, for example
	// https://auth.example.com/.well-known/jwks.json. Required.
	JWKSURL string
	// Issuer and Audience are authd's TOKEN_ISSUER and TOKEN_AUDIENCE
	// (both "authd" by default). When set, a token must carry them.
	// Set them: a token that authd issued for another audience is
	// otherwise accepted.
	Issuer, Audience string
	// HTTPClient fetches the key set. Nil: a client with FetchTimeout.
	HTTPClient *http.Client
	// FetchTimeout bounds one fetch of the key set. 0: 10 s.
	FetchTimeout time.Duration
	// MinRefreshInterval is the least time between two fetches of the
	// key set, whatever tokens arrive: a flood of made-up kids costs
	// authd one request per interval. 0: 10 s.
	MinRefreshInterval time.Duration
	// MaxAge is how long a fetched key set is used before it is fetched
	// again (in the background: requests keep using the old one until
	// the new one arrives). 0: 5 minutes.
	MaxAge time.Duration
	// Leeway is the clock skew allowed on exp, nbf and iat, 0..30 s.
	// 0: 5 s; a negative value means none.
	Leeway time.Duration
	// Deny, if set, is consulted for every token: a token whose session
	// (sid) it holds is refused with ErrRevoked.
	Deny *DenySet
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Claims are what an authd access token says.
type Claims struct {
	Subject   string    // sub: the user's id (a UUID)
	Session   string    // sid: the session's id (a UUID), what a logout revokes
	ID        string    // jti: this token's id
	Issuer    string    // iss
	IssuedAt  time.Time // iat
	NotBefore time.Time // nbf
	ExpiresAt time.Time // exp
	// AAL is the session's authentication assurance level: 1 a
	// password, 2 a password and a second factor; 0 when the token has
	// no aal claim.
	AAL int
	// AMR lists how the user authenticated (RFC 8176: "pwd", "otp", ...).
	AMR []string
	// AuthTime is when the user last proved who they are (zero: absent).
	AuthTime time.Time
	// Role is the user's role, when authd is set to put it in access
	// tokens; "" otherwise. It is as old as the token: a role change
	// reaches it at the session's next refresh.
	Role string
}

// Verifier checks authd's access tokens. It is safe for concurrent use.
type Verifier struct {
	url      string
	client   *http.Client
	timeout  time.Duration
	minEvery time.Duration
	maxAge   time.Duration
	deny     *DenySet
	now      func() time.Time
	parser   *jwt.Parser

	mu       sync.Mutex
	keys     map[string]publicKey // by kid; nil until the first fetch succeeds
	fetched  time.Time            // when keys were fetched
	tried    time.Time            // when the last fetch started
	inflight chan struct{}        // non-nil while a fetch runs; closed when it ends
	err      error                // the last fetch's error
}

// publicKey is one key of the set, with the algorithm it is pinned to.
type publicKey struct {
	alg string
	key crypto.PublicKey
}

// New checks o and returns a Verifier. It does no I/O: the key set is
// fetched by the first Verify (or by Refresh, to fail early at start-up).
func New(o Options) (*Verifier, error) {
	var errs []error
	if o.JWKSURL == "" {
		errs = append(errs, errors.New("JWKSURL is required"))
	} else if !strings.HasPrefix(o.JWKSURL, "https://") && !strings.HasPrefix(o.JWKSURL, "http://") {
		errs = append(errs, errors.New("JWKSURL must be an http(s) URL"))
	}
	if o.Leeway > MaxLeeway {
		errs = append(errs, fmt.Errorf("leeway must be at most %s", MaxLeeway))
	}
	if o.MinRefreshInterval < 0 || o.MaxAge < 0 || o.FetchTimeout < 0 {
		errs = append(errs, errors.New("intervals must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	v := &Verifier{
		url:      o.JWKSURL,
		client:   o.HTTPClient,
		timeout:  or(o.FetchTimeout, DefaultFetchTimeout),
		minEvery: or(o.MinRefreshInterval, DefaultMinRefreshInterval),
		maxAge:   or(o.MaxAge, DefaultMaxAge),
		deny:     o.Deny,
		now:      o.Now,
	}
	if v.client == nil {
		v.client = &http.Client{Timeout: v.timeout}
	}
	if v.now == nil {
		v.now = time.Now
	}
	leeway := or(o.Leeway, DefaultLeeway)
	if o.Leeway < 0 {
		leeway = 0
	}
	popts := []jwt.ParserOption{
		jwt.WithValidMethods(algorithms),
		jwt.WithExpirationRequired(),
		jwt.WithNotBeforeRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(v.now),
		jwt.WithStrictDecoding(),
	}
	if o.Issuer != "" {
		popts = append(popts, jwt.WithIssuer(o.Issuer))
	}
	if o.Audience != "" {
		popts = append(popts, jwt.WithAudience(o.Audience))
	}
	v.parser = jwt.NewParser(popts...)
	return v, nil
}

func or(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// claims is what Verify decodes.
type claims struct {
	jwt.RegisteredClaims
	Session  string   `json:"sid"`
	AAL      int      `json:"aal"`
	AMR      []string `json:"amr"`
	AuthTime int64    `json:"auth_time"`
	Role     string   `json:"role"`
}

// Verify checks an access token (without "Bearer ") and returns its
// claims. A refused token's error wraps ErrInvalid (ErrRevoked for a
// revoked session); ErrUnavailable means that no key set could be fetched
// yet; a cancelled ctx returns its error.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if len(token) > MaxTokenLen {
		return nil, fmt.Errorf("%w: too long", ErrInvalid)
	}
	if err := v.ready(ctx); err != nil {
		return nil, err
	}
	var c claims
	var keyErr error // why the key function failed, if it did
	_, err := v.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		k, err := v.key(ctx, t)
		keyErr = err
		return k, err
	})
	if err != nil {
		if keyErr != nil && !errors.Is(keyErr, ErrInvalid) {
			return nil, keyErr // ErrUnavailable or the context's error
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	out, err := c.check()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if v.deny != nil && v.deny.Denied(out.Session) {
		return nil, ErrRevoked
	}
	return out, nil
}

// check requires what authd always sets and converts c.
func (c *claims) check() (*Claims, error) {
	if c.IssuedAt == nil {
		return nil, errors.New("missing iat")
	}
	if c.ID == "" {
		return nil, errors.New("missing jti")
	}
	if !isUUID(c.Subject) {
		return nil, errors.New("sub is not a UUID")
	}
	if !isUUID(c.Session) {
		return nil, errors.New("sid is not a UUID")
	}
	if c.AAL < 0 || c.AAL > 3 || c.AuthTime < 0 {
		return nil, errors.New("bad aal or auth_time")
	}
	out := &Claims{
		Subject:   c.Subject,
		Session:   c.Session,
		ID:        c.ID,
		Issuer:    c.Issuer,
		IssuedAt:  c.IssuedAt.UTC(),
		NotBefore: c.NotBefore.UTC(),
		ExpiresAt: c.ExpiresAt.UTC(),
		AAL:       c.AAL,
		AMR:       c.AMR,
		Role:      c.Role,
	}
	if c.AuthTime > 0 {
		out.AuthTime = time.Unix(c.AuthTime, 0).UTC()
	}
	return out, nil
}

// isUUID reports whether s is a canonical, lower-case, non-nil UUID, as
// authd writes them.
func isUUID(s string) bool {
	if len(s) != 36 || s == "00000000-0000-0000-0000-000000000000" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// key checks the header of t and returns the key its kid names, fetching
// the key set again once if the kid is unknown.
func (v *Verifier) key(ctx context.Context, t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, fmt.Errorf("%w: crit header", ErrInvalid)
	}
	if typ, _ := t.Header["typ"].(string); typ != "at+jwt" {
		return nil, fmt.Errorf("%w: typ is not at+jwt", ErrInvalid)
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, fmt.Errorf("%w: no kid", ErrInvalid)
	}
	k, ok := v.lookup(kid)
	if !ok {
		// A key authd has just started to use, or a made-up kid: fetch
		// again, at most once per MinRefreshInterval for all callers.
		// A failed fetch leaves the keys we have; this kid is not among them.
		if v.refresh(ctx, false) != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if k, ok = v.lookup(kid); !ok {
			return nil, fmt.Errorf("%w: unknown kid", ErrInvalid)
		}
	}
	// The algorithm is pinned per key: RS384 or PS256 with an RS256 key,
	// or HS256 with anything, is refused.
	if alg, _ := t.Header["alg"].(string); alg != k.alg || t.Method.Alg() != k.alg {
		return nil, fmt.Errorf("%w: alg does not match the key", ErrInvalid)
	}
	return k.key, nil
}

func (v *Verifier) lookup(kid string) (publicKey, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	k, ok := v.keys[kid]
	return k, ok
}

// ready makes sure a key set is at hand: it waits for the first fetch,
// and starts a background fetch when the key set is older than MaxAge.
func (v *Verifier) ready(ctx context.Context) error {
	v.mu.Lock()
	have, old := v.keys != nil, v.now().Sub(v.fetched) >= v.maxAge
	v.mu.Unlock()
	if !have {
		if err := v.refresh(ctx, false); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return nil
	}
	if old {
		v.refresh(ctx, true) // errors keep the old keys; a later call tries again
	}
	return nil
}

// errTooSoon: the last fetch started less than MinRefreshInterval ago.
var errTooSoon = errors.New("key set fetched too recently")

// Refresh fetches the key set now and waits for it; within
// MinRefreshInterval of the last fetch it fetches nothing and reports
// whether a key set is at hand. Call it at start-up to learn early that
// authd's key set is unreachable; Verify does not need it. A failed fetch
// keeps the keys of the last good one. Its error wraps ErrUnavailable.
func (v *Verifier) Refresh(ctx context.Context) error {
	err := v.refresh(ctx, false)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, errTooSoon) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// refresh starts a fetch of the key set unless one is running (single
// flight) or the last one started less than MinRefreshInterval ago
// (errTooSoon, or the last error while no keys are known), and waits for
// the running fetch unless background.
func (v *Verifier) refresh(ctx context.Context, background bool) error {
	v.mu.Lock()
	ch := v.inflight
	if ch == nil {
		now := v.now()
		if !v.tried.IsZero() && now.Sub(v.tried) < v.minEvery {
			err := errTooSoon
			if v.keys == nil && v.err != nil {
				err = v.err
			}
			v.mu.Unlock()
			return err
		}
		v.tried = now
		ch = make(chan struct{})
		v.inflight = ch
		go v.fetch(ch)
	}
	v.mu.Unlock()
	if background {
		return nil
	}
	select {
	case <-ch:
	case <-ctx.Done():
		return ctx.Err()
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.err
}

// fetch gets the key set, stores it (or the error) and closes ch. It runs
// on a context of its own, so that a cancelled request does not fail the
// others that wait for the same fetch.
func (v *Verifier) fetch(ch chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), v.timeout)
	defer cancel()
	keys, err := v.get(ctx)
	v.mu.Lock()
	v.err = err
	if err == nil {
		v.keys, v.fetched = keys, v.now()
	}
	v.inflight = nil
	v.mu.Unlock()
	close(ch)
}

// get fetches and parses the key set.
func (v *Verifier) get(ctx context.Context) (map[string]publicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch key set: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch key set: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch key set: %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch key set: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, errors.New("fetch key set: larger than 1 MiB")
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("fetch key set: %w", err)
	}
	return keys, nil
}

// jwk is one entry of a JWKS document, as authd writes it.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS parses a JWKS document and returns its keys by kid. Each key
// needs a kid and an alg of RS256 (RSA, at least 2048 bits), ES256 (EC
// P-256) or EdDSA (OKP Ed25519); a key with use other than "sig", or of
// another kind, is skipped, as other services' keys may share a
// document. A malformed key of a supported kind is an error.
func parseJWKS(doc []byte) (map[string]publicKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	if set.Keys == nil {
		return nil, errors.New("key set: no keys member")
	}
	keys := make(map[string]publicKey, len(set.Keys))
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		pub, err := k.public()
		if err != nil {
			return nil, fmt.Errorf("key set: key %q: %w", k.Kid, err)
		}
		if pub == nil {
			continue
		}
		if k.Kid == "" {
			return nil, errors.New("key set: a key without kid")
		}
		if _, dup := keys[k.Kid]; dup {
			return nil, fmt.Errorf("key set: kid %q twice", k.Kid)
		}
		keys[k.Kid] = publicKey{alg: k.Alg, key: pub}
	}
	return keys, nil
}

// public decodes k; nil, nil for a key that is not authd's kind.
func (k jwk) public() (crypto.PublicKey, error) {
	switch {
	case k.Alg == "RS256" && k.Kty == "RSA":
		n, err := b64int(k.N)
		if err != nil {
			return nil, fmt.Errorf("n: %w", err)
		}
		e, err := b64int(k.E)
		if err != nil || !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
			return nil, errors.New("bad e")
		}
		if n.BitLen() < 2048 {
			return nil, errors.New("RSA key under 2048 bits")
		}
		return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
	case k.Alg == "ES256" && k.Kty == "EC" && k.Crv == "P-256":
		x, err := b64bytes(k.X, 32)
		if err != nil {
			return nil, fmt.Errorf("x: %w", err)
		}
		y, err := b64bytes(k.Y, 32)
		if err != nil {
			return nil, fmt.Errorf("y: %w", err)
		}
		// 0x04 || X || Y: the uncompressed point, which ecdh checks is on the curve.
		pt := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pt)
		if err != nil {
			return nil, errors.New("not a point on P-256")
		}
		return pub, nil
	case k.Alg == "EdDSA" && k.Kty == "OKP" && k.Crv == "Ed25519":
		x, err := b64bytes(k.X, ed25519.PublicKeySize)
		if err != nil {
			return nil, fmt.Errorf("x: %w", err)
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, nil
}

func b64int(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, errors.New("not base64url")
	}
	return new(big.Int).SetBytes(b), nil
}

func b64bytes(s string, n int) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != n {
		return nil, fmt.Errorf("not %d bytes of base64url", n)
	}
	return b, nil
}
