// Package token loads keys, signs and verifies authd's JWTs and publishes the JWKS.
package token

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Kind is the token kind.
type Kind int

const (
	Access  Kind = iota + 1 // header typ "at+jwt" (RFC 9068)
	Refresh                 // header typ "rt+jwt"
)

func (k Kind) String() string {
	switch k {
	case Access:
		return "access"
	case Refresh:
		return "refresh"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// typ is the JOSE header typ of the kind.
func (k Kind) typ() string {
	if k == Access {
		return "at+jwt"
	}
	return "rt+jwt"
}

// MaxTokenLen: tokens longer than this (8 KiB) are rejected before parsing.
const MaxTokenLen = 8192

// MaxLeeway is the largest clock leeway accepted.
const MaxLeeway = 30 * time.Second

// ErrInvalid is wrapped by every verification failure. Show clients only its
// message: the wrapped detail is for logs.
var ErrInvalid = errors.New("invalid token")

// ErrSameKeys: the access and refresh key sets share a key, so one kind of
// token could pass for the other. New wraps it.
var ErrSameKeys = errors.New("access and refresh keys must differ")

// Options configure a Signer.
type Options struct {
	Access, Refresh       *KeySet // required, must not share keys
	Issuer, Audience      string  // required
	AccessTTL, RefreshTTL time.Duration
	Leeway                time.Duration // 0..MaxLeeway
	// RefreshJWT signs refresh tokens as RS256/ES256/EdDSA JWTs, as
	// releases before MAC refresh tokens did (for a rolling upgrade from
	// one). Both forms always verify.
	RefreshJWT bool
	Now        func() time.Time // nil means time.Now
	// OnSign, if set, is called after each signature made with a private
	// key (an access token, or a refresh token with RefreshJWT).
	OnSign func()
}

// Claims are what authd puts in and reads back from a token.
type Claims struct {
	Kind       Kind
	Subject    uuid.UUID // sub: the user
	Session    uuid.UUID // sid: the session
	Generation int64     // gen: refresh generation (0 for access tokens)
	ID         string    // jti
	IssuedAt   time.Time
	ExpiresAt  time.Time
	// Assurance (access tokens only): how the session's user proved who
	// they are. Zero in a token signed without one.
	Assurance Assurance
}

// Assurance is what an access token says of its session's authentication:
// the aal claim (1: a password; 2: a password and a second factor), the
// amr claim (RFC 8176 method names such as "pwd" and "otp") and the
// auth_time claim (OIDC: when the user last proved who they are). A
// resource server that needs MFA checks AAL >= 2; one that guards a
// sensitive action checks AuthTime.
//
// Role rides along: the role claim (the user's role as stored, "user" or
// "admin"), signed only with ACCESS_TOKEN_ROLE_CLAIM and left out when
// empty. It is the role when the token was signed (at login or at the
// refresh that issued it), so a role change shows at the next refresh.
type Assurance struct {
	AAL      int
	AMR      []string
	AuthTime time.Time
	Role     string
}

// Signer signs and verifies access and refresh tokens.
type Signer struct {
	access, refresh *KeySet
	issuer          string
	audience        string
	accessTTL       time.Duration
	refreshTTL      time.Duration
	now             func() time.Time

	parser                  *jwt.Parser
	leeway                  time.Duration
	cache                   *verified // access tokens already verified
	accessKey, refreshKey   jwt.Keyfunc
	accessHead, refreshHead string   // encoded header and "."
	refreshMAC              [][]byte // HMAC keys of refresh tokens: signing first (mac.go)
	refreshJWT              bool     // sign refresh tokens as JWTs, as releases before MAC tokens did
	onSign                  func()
	jwks                    []byte
}

// payload is the signed claim set; aud is a single string.
type payload struct {
	Issuer     string   `json:"iss"`
	Subject    string   `json:"sub"`
	Audience   string   `json:"aud"`
	ExpiresAt  int64    `json:"exp"`
	NotBefore  int64    `json:"nbf"`
	IssuedAt   int64    `json:"iat"`
	ID         string   `json:"jti"`
	Session    string   `json:"sid"`
	Generation *int64   `json:"gen,omitempty"`
	AAL        int      `json:"aal,omitempty"`
	AMR        []string `json:"amr,omitempty"`
	AuthTime   int64    `json:"auth_time,omitempty"`
	Role       string   `json:"role,omitempty"`
}

// claims is what Verify decodes.
type claims struct {
	jwt.RegisteredClaims
	Session    string   `json:"sid"`
	Generation *int64   `json:"gen"`
	AAL        int      `json:"aal"`
	AMR        []string `json:"amr"`
	AuthTime   int64    `json:"auth_time"`
	Role       string   `json:"role"`
}

// header is the JOSE header we sign.
type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// New checks o and returns a Signer.
func New(o Options) (*Signer, error) {
	var errs []error
	if o.Access == nil {
		errs = append(errs, errors.New("access keys are required"))
	}
	if o.Refresh == nil {
		errs = append(errs, errors.New("refresh keys are required"))
	}
	if SameKeys(o.Access, o.Refresh) {
		errs = append(errs, ErrSameKeys)
	}
	if o.Issuer == "" {
		errs = append(errs, errors.New("issuer is required"))
	}
	if o.Audience == "" {
		errs = append(errs, errors.New("audience is required"))
	}
	if o.AccessTTL <= 0 {
		errs = append(errs, errors.New("access TTL must be positive"))
	}
	if o.RefreshTTL <= 0 {
		errs = append(errs, errors.New("refresh TTL must be positive"))
	}
	if o.Leeway < 0 || o.Leeway > MaxLeeway {
		errs = append(errs, fmt.Errorf("leeway must be between 0 and %s", MaxLeeway))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}

	now := o.Now
	if now == nil {
		now = time.Now
	}
	s := &Signer{
		access:     o.Access,
		refresh:    o.Refresh,
		issuer:     o.Issuer,
		audience:   o.Audience,
		accessTTL:  o.AccessTTL,
		refreshTTL: o.RefreshTTL,
		now:        now,
		leeway:     o.Leeway,
		cache:      newVerified(VerifiedCacheSize),
		accessKey:  keyfunc(o.Access, Access.typ()),
		refreshKey: keyfunc(o.Refresh, Refresh.typ()),
	}

	var algs []string
	for _, k := range slices.Concat(o.Access.keys, o.Refresh.keys) {
		if !slices.Contains(algs, k.alg) {
			algs = append(algs, k.alg)
		}
	}
	s.parser = jwt.NewParser(
		jwt.WithValidMethods(algs),
		jwt.WithIssuer(o.Issuer),
		jwt.WithAudience(o.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithNotBeforeRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(o.Leeway),
		jwt.WithTimeFunc(now),
		jwt.WithStrictDecoding(),
	)

	var err error
	if s.accessHead, err = encodeHeader(o.Access, Access); err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	if s.refreshHead, err = encodeHeader(o.Refresh, Refresh); err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	if s.refreshMAC, err = deriveMACKeys(o.Refresh); err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	s.refreshJWT = o.RefreshJWT
	s.onSign = o.OnSign

	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: make([]jwk, 0, len(o.Access.keys))}
	for _, k := range o.Access.keys {
		set.Keys = append(set.Keys, k.jwk)
	}
	if s.jwks, err = json.Marshal(set); err != nil {
		return nil, fmt.Errorf("token: JWKS: %w", err)
	}
	return s, nil
}

// Access signs an access token for user sub in session sid, without
// assurance claims (see AccessWith).
func (s *Signer) Access(sub, sid uuid.UUID) (string, error) {
	tok, _, err := s.signAccess(sub, sid, Assurance{})
	return tok, err
}

// AccessWith signs an access token for user sub in session sid that
// carries a's aal, amr, auth_time and role (each left out when zero).
func (s *Signer) AccessWith(sub, sid uuid.UUID, a Assurance) (string, error) {
	tok, _, err := s.signAccess(sub, sid, a)
	return tok, err
}

// signAccess is AccessWith with the claims it signed (for tests).
func (s *Signer) signAccess(sub, sid uuid.UUID, a Assurance) (string, Claims, error) {
	if sub == uuid.Nil || sid == uuid.Nil {
		return "", Claims{}, errors.New("sign access token: nil subject or session")
	}
	jti, err := newJTI()
	if err != nil {
		return "", Claims{}, fmt.Errorf("sign access token: %w", err)
	}
	now := s.now()
	c := Claims{
		Kind:      Access,
		Subject:   sub,
		Session:   sid,
		ID:        jti,
		IssuedAt:  seconds(now),
		ExpiresAt: seconds(now.Add(s.accessTTL)),
		Assurance: a,
	}
	if !a.AuthTime.IsZero() {
		c.Assurance.AuthTime = seconds(a.AuthTime)
	}
	tok, err := s.sign(s.access, s.accessHead, c)
	if err != nil {
		return "", Claims{}, fmt.Errorf("sign access token: %w", err)
	}
	return tok, c, nil
}

// Refresh issues a refresh token for generation gen of session sid, with
// the caller's jti (16 bytes, base64url): a MAC token (mac.go), or a JWT
// with RefreshJWT. It expires at expires, but never later
// than now plus the refresh TTL.
func (s *Signer) Refresh(sub, sid uuid.UUID, gen int64, jti string, expires time.Time) (string, error) {
	tok, _, err := s.signRefresh(sub, sid, gen, jti, expires)
	return tok, err
}

// signRefresh is Refresh with the claims it signed (for tests).
func (s *Signer) signRefresh(sub, sid uuid.UUID, gen int64, jti string, expires time.Time) (string, Claims, error) {
	if sub == uuid.Nil || sid == uuid.Nil {
		return "", Claims{}, errors.New("sign refresh token: nil subject or session")
	}
	if gen < 0 {
		return "", Claims{}, errors.New("sign refresh token: negative generation")
	}
	if jti == "" {
		return "", Claims{}, errors.New("sign refresh token: empty jti")
	}
	now := s.now()
	if limit := now.Add(s.refreshTTL); expires.After(limit) {
		expires = limit
	}
	c := Claims{
		Kind:       Refresh,
		Subject:    sub,
		Session:    sid,
		Generation: gen,
		ID:         jti,
		IssuedAt:   seconds(now),
		ExpiresAt:  seconds(expires),
	}
	if !c.ExpiresAt.After(c.IssuedAt) {
		return "", Claims{}, errors.New("sign refresh token: expiry is not in the future")
	}
	var tok string
	var err error
	if s.refreshJWT {
		tok, err = s.sign(s.refresh, s.refreshHead, c)
	} else {
		tok, err = s.signMAC(c)
	}
	if err != nil {
		return "", Claims{}, fmt.Errorf("sign refresh token: %w", err)
	}
	return tok, c, nil
}

// sign encodes c after head and signs it with the signing key of ks.
func (s *Signer) sign(ks *KeySet, head string, c Claims) (string, error) {
	p := payload{
		Issuer:    s.issuer,
		Subject:   c.Subject.String(),
		Audience:  s.audience,
		ExpiresAt: c.ExpiresAt.Unix(),
		NotBefore: c.IssuedAt.Unix(),
		IssuedAt:  c.IssuedAt.Unix(),
		ID:        c.ID,
		Session:   c.Session.String(),
	}
	if c.Kind == Refresh {
		p.Generation = &c.Generation
	}
	if c.Kind == Access {
		p.AAL, p.AMR, p.Role = c.Assurance.AAL, c.Assurance.AMR, c.Assurance.Role
		if !c.Assurance.AuthTime.IsZero() {
			p.AuthTime = c.Assurance.AuthTime.Unix()
		}
	}
	body, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	unsigned := head + base64.RawURLEncoding.EncodeToString(body)
	sig, err := ks.signing.method.Sign(unsigned, ks.private)
	if err != nil {
		return "", err
	}
	if s.onSign != nil {
		s.onSign()
	}
	return unsigned + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// Verify checks a token of the expected kind and returns its claims. Every
// error wraps ErrInvalid.
func (s *Signer) Verify(kind Kind, tok string) (Claims, error) {
	if len(tok) > MaxTokenLen {
		return Claims{}, fmt.Errorf("%w: too long", ErrInvalid)
	}
	var (
		kf  jwt.Keyfunc
		key cacheKey
	)
	switch kind {
	case Access:
		key = keyOf(tok)
		if c, ok := s.cache.get(key, s.now(), s.leeway); ok {
			return c, nil
		}
		kf = s.accessKey
	case Refresh:
		if strings.HasPrefix(tok, macPrefix) {
			return s.verifyMAC(tok)
		}
		kf = s.refreshKey
	default:
		return Claims{}, fmt.Errorf("%w: unknown kind", ErrInvalid)
	}
	var c claims
	if _, err := s.parser.ParseWithClaims(tok, &c, kf); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	// The parser requires exp and nbf and checks iat only when present.
	if c.IssuedAt == nil {
		return Claims{}, fmt.Errorf("%w: missing iat", ErrInvalid)
	}
	if c.ID == "" {
		return Claims{}, fmt.Errorf("%w: missing jti", ErrInvalid)
	}
	sub, err := parseUUID(c.Subject)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: sub: %w", ErrInvalid, err)
	}
	sid, err := parseUUID(c.Session)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: sid: %w", ErrInvalid, err)
	}
	out := Claims{
		Kind:      kind,
		Subject:   sub,
		Session:   sid,
		ID:        c.ID,
		IssuedAt:  c.IssuedAt.UTC(),
		ExpiresAt: c.ExpiresAt.UTC(),
	}
	if kind == Refresh {
		if c.Generation == nil || *c.Generation < 0 {
			return Claims{}, fmt.Errorf("%w: missing or negative gen", ErrInvalid)
		}
		out.Generation = *c.Generation
	}
	if kind == Access {
		if c.AAL < 0 || c.AAL > 3 || c.AuthTime < 0 {
			return Claims{}, fmt.Errorf("%w: bad aal or auth_time", ErrInvalid)
		}
		out.Assurance = Assurance{AAL: c.AAL, AMR: c.AMR, Role: c.Role}
		if c.AuthTime > 0 {
			out.Assurance.AuthTime = time.Unix(c.AuthTime, 0).UTC()
		}
		nbf := out.IssuedAt
		if c.NotBefore != nil && c.NotBefore.After(nbf) {
			nbf = c.NotBefore.UTC()
		}
		s.cache.put(key, out, nbf)
	}
	return out, nil
}

// VerifiedCacheSize is how many verified access tokens a Signer remembers
// (about 200 bytes each). Refresh tokens are used once and never cached.
const VerifiedCacheSize = 16384

// JWKS returns the JSON Web Key Set of the access keys. The slice is shared:
// do not modify it.
// AccessTTL is how long an access token is valid after it is signed.
func (s *Signer) AccessTTL() time.Duration { return s.accessTTL }

func (s *Signer) JWKS() []byte { return s.jwks }

// keyfunc checks the header of a token expected to have this typ and returns
// the key from ks that the kid names.
func keyfunc(ks *KeySet, typ string) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		// Only what we sign: crit, jku, x5u, jwk, x5c and the rest are refused.
		for name := range t.Header {
			if name != "alg" && name != "kid" && name != "typ" {
				return nil, errors.New("unexpected header parameter")
			}
		}
		if v, _ := t.Header["typ"].(string); v != typ {
			return nil, errors.New("wrong typ")
		}
		kid, _ := t.Header["kid"].(string)
		k := ks.find(kid)
		if k == nil {
			return nil, errors.New("unknown kid")
		}
		if alg, _ := t.Header["alg"].(string); alg != k.alg || t.Method.Alg() != k.alg {
			return nil, errors.New("alg does not match the key")
		}
		return k.public, nil
	}
}

// encodeHeader returns the encoded header for tokens of this kind, and ".".
func encodeHeader(ks *KeySet, kind Kind) (string, error) {
	b, err := json.Marshal(header{Alg: ks.signing.alg, Kid: ks.signing.kid, Typ: kind.typ()})
	if err != nil {
		return "", fmt.Errorf("%s header: %w", kind, err)
	}
	return base64.RawURLEncoding.EncodeToString(b) + ".", nil
}

// parseUUID accepts only the canonical lower-case form and no nil UUID.
func parseUUID(s string) (uuid.UUID, error) {
	u, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, errors.New("not a UUID")
	}
	if u == uuid.Nil || u.String() != s {
		return uuid.Nil, errors.New("not a canonical non-nil UUID")
	}
	return u, nil
}

// seconds drops the sub-second part, as NumericDate does.
func seconds(t time.Time) time.Time { return time.Unix(t.Unix(), 0).UTC() }

// newJTI returns a fresh 128-bit random token id, base64url without padding.
func newJTI() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
