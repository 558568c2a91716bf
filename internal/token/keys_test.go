package token

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"slices"
	"strings"
	"testing"
)

// A 512-bit key like the tutorial's published ones (openssl genrsa -traditional 512).
const rsa512Private = `-----BEGIN RSA PRIVATE KEY-----
MIIBOgIBAAJBANR+4HjpYunCK6iEEAEqrbTGVB0DjUSJTk4PjDr/l1EnpgEFUsu3
eLFvyF5QcDmAnr03m6wuiP/ueaW3g22DBaECAwEAAQJBALH3sTiS/uyYWshAEsdn
XyRQFpJWLzJ/bL2j9+ZRugGUlEkkGjpa9jNCtPR6m2cRJfR8V/z1xzu+aBs8Fhpx
P4ECIQDzATKB+M9DFXkdZeQNnn12A5APi64r76EC9eDTi7ySBQIhAN/cAHhmmjlZ
SDtMYNGjpce5YfBhD+wAC6BuhcAVFSvtAiA5gX4HXe8GbA12VIdsZaZBCETOOPrl
sNaEkdU7mqTsVQIgR/Tlyc3hQRHr3/O7I2fhAAQc8TGh9pBFLHqaT5X3SjkCIG5u
saRTXpk7uq1miW6bU0KFUbrbpa5GKtOiNLD3Ajkb
-----END RSA PRIVATE KEY-----
`

const rsa512Public = `-----BEGIN PUBLIC KEY-----
MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBANR+4HjpYunCK6iEEAEqrbTGVB0DjUSJ
Tk4PjDr/l1EnpgEFUsu3eLFvyF5QcDmAnr03m6wuiP/ueaW3g22DBaECAwEAAQ==
-----END PUBLIC KEY-----
`

// The RSA key of RFC 7638 section 3.1 and its thumbprint.
const (
	rfc7638N   = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	rfc7638KID = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
)

func rfc7638Key(t *testing.T) *rsa.PublicKey {
	t.Helper()
	n, err := base64.RawURLEncoding.DecodeString(rfc7638N)
	if err != nil {
		t.Fatal(err)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}
}

func pemBlock(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func TestParseKeySet(t *testing.T) {
	k := getKeys(t)
	r, e, d := k.rsa[0], k.ec[0], k.ed[0]
	sec1, err := x509.MarshalECPrivateKey(e)
	if err != nil {
		t.Fatal(err)
	}
	wrapped := func(s string) string { // like base64(1) without -w 0
		var lines []string
		for len(s) > 76 {
			lines = append(lines, s[:76])
			s = s[76:]
		}
		return strings.Join(append(lines, s), "\n") + "\n"
	}
	tests := []struct {
		name            string
		private, public string
		extra           []string
		key             crypto.Signer
		alg             string
		n               int // keys in the set
	}{
		{"RSA PKCS#8 base64", b64PEM(t, r), "", nil, r, "RS256", 1},
		{"RSA PKCS#8 base64 with public", b64PEM(t, r), b64PEM(t, r.Public()), nil, r, "RS256", 1},
		{"RSA PKCS#1 PEM", pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(r)), pemBlock("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&r.PublicKey)), nil, r, "RS256", 1},
		{"RSA base64 wrapped", wrapped(b64PEM(t, r)), wrapped(b64PEM(t, r.Public())), nil, r, "RS256", 1},
		{"RSA PEM with spaces", "\n  " + pemText(t, r) + "  \n", "", nil, r, "RS256", 1},
		{"EC SEC1 PEM", pemBlock("EC PRIVATE KEY", sec1), pemText(t, e.Public()), nil, e, "ES256", 1},
		{"EC PKCS#8 base64", b64PEM(t, e), b64PEM(t, e.Public()), nil, e, "ES256", 1},
		{"Ed25519 PKCS#8 PEM", pemText(t, d), pemText(t, d.Public()), nil, d, "EdDSA", 1},
		{"extra keys of every type", b64PEM(t, r), "", []string{b64PEM(t, k.rsa[2].Public()), pemText(t, k.ec[2].Public()), b64PEM(t, k.ed[2].Public())}, r, "RS256", 4},
		{"extra PKCS#1 public", b64PEM(t, e), "", []string{pemBlock("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&k.rsa[2].PublicKey))}, e, "ES256", 2},
		{"duplicates", b64PEM(t, d), "", []string{b64PEM(t, d.Public()), b64PEM(t, k.ed[2].Public()), pemText(t, k.ed[2].Public())}, d, "EdDSA", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := ParseKeySet(tt.private, tt.public, tt.extra)
			if err != nil {
				t.Fatalf("ParseKeySet: %v", err)
			}
			if got := ks.Alg(); got != tt.alg {
				t.Errorf("Alg() = %q, want %q", got, tt.alg)
			}
			want, err := newKey(tt.key.Public())
			if err != nil {
				t.Fatal(err)
			}
			if got := ks.KID(); got != want.kid {
				t.Errorf("KID() = %q, want %q", got, want.kid)
			}
			if got := len(ks.keys); got != tt.n {
				t.Errorf("%d keys, want %d", got, tt.n)
			}
		})
	}
}

func TestParseKeySetRefused(t *testing.T) {
	k := getKeys(t)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384SEC1, err := x509.MarshalECPrivateKey(p384)
	if err != nil {
		t.Fatal(err)
	}
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x25519DER, err := x509.MarshalPKCS8PrivateKey(x25519)
	if err != nil {
		t.Fatal(err)
	}
	good := b64PEM(t, k.rsa[0])
	encrypted := "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00000000000000000000000000000000\n\nAAAA\n-----END RSA PRIVATE KEY-----\n"
	tests := []struct {
		name            string
		private, public string
		extra           []string
		want            string
	}{
		{"empty", "", "", nil, "empty"},
		{"blank", " \n\t", "", nil, "empty"},
		{"garbage", "not a key!", "", nil, "neither PEM nor base64"},
		{"base64 of garbage", base64.StdEncoding.EncodeToString([]byte("hello")), "", nil, "no PEM block"},
		{"RSA 1024", b64PEM(t, rsa1024), "", nil, "1024 bits"},
		{"RSA 1024 PKCS#1", pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsa1024)), "", nil, "1024 bits"},
		{"RSA 512 PEM", rsa512Private, "", nil, "512 bits"},
		{"RSA 512 base64", base64.StdEncoding.EncodeToString([]byte(rsa512Private)), "", nil, "512 bits"},
		{"RSA 512 public", good, rsa512Public, nil, "512 bits"},
		{"RSA 512 extra", good, "", []string{rsa512Public}, "extra key 1: RSA key is 512 bits"},
		{"RSA 1024 extra", good, "", []string{b64PEM(t, k.ec[2].Public()), b64PEM(t, rsa1024.Public())}, "extra key 2: RSA key is 1024 bits"},
		{"P-384", b64PEM(t, p384), "", nil, "P-384"},
		{"P-384 SEC1", pemBlock("EC PRIVATE KEY", p384SEC1), "", nil, "P-384"},
		{"P-384 extra", good, "", []string{b64PEM(t, p384.Public())}, "P-384"},
		{"P-521", b64PEM(t, p521), "", nil, "P-521"},
		{"X25519", pemBlock("PRIVATE KEY", x25519DER), "", nil, "unsupported key type"},
		{"public does not match", good, b64PEM(t, k.rsa[1].Public()), nil, "does not match"},
		{"public of another type", good, b64PEM(t, k.ed[0].Public()), nil, "does not match"},
		{"public key as private", b64PEM(t, k.rsa[0].Public()), "", nil, "not a private key"},
		{"private key as public", good, good, nil, "not a public key"},
		{"private key as extra", good, "", []string{b64PEM(t, k.ec[0])}, "not a public key"},
		{"two blocks", pemText(t, k.rsa[0]) + pemText(t, k.rsa[0].Public()), "", nil, "exactly one PEM block"},
		{"encrypted", encrypted, "", nil, "encrypted"},
		{"corrupt PKCS#8", pemBlock("PRIVATE KEY", []byte("not DER")), "", nil, "parse PKCS#8"},
		{"corrupt PKIX", good, pemBlock("PUBLIC KEY", []byte("not DER")), nil, "parse PKIX"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := ParseKeySet(tt.private, tt.public, tt.extra)
			if err == nil {
				t.Fatalf("ParseKeySet = %v, want error mentioning %q", ks, tt.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q, want it to mention %q", msg, tt.want)
			}
			// No key material: no PEM, no base64 of PEM or DER.
			for _, leak := range []string{"-----", "LS0t", "MII", "MFw"} {
				if strings.Contains(msg, leak) {
					t.Errorf("error %q contains %q", msg, leak)
				}
			}
		})
	}
}

func TestSameKeys(t *testing.T) {
	k := getKeys(t)
	a := mustKeySet(t, k.rsa[0])
	b := mustKeySet(t, k.rsa[1])
	tests := []struct {
		name string
		x, y *KeySet
		want bool
	}{
		{"different", a, b, false},
		{"same set", a, a, true},
		{"same key parsed twice", a, mustKeySet(t, k.rsa[0]), true},
		{"signing key is the other's extra", a, mustKeySet(t, k.rsa[1], k.rsa[0].Public()), true},
		{"extras shared", mustKeySet(t, k.ec[0], k.ed[2].Public()), mustKeySet(t, k.ec[1], k.ed[2].Public()), true},
		{"different types", a, mustKeySet(t, k.ec[0]), false},
		{"nil", a, nil, false},
	}
	for _, tt := range tests {
		if got := SameKeys(tt.x, tt.y); got != tt.want {
			t.Errorf("SameKeys(%s) = %v, want %v", tt.name, got, tt.want)
		}
		if got := SameKeys(tt.y, tt.x); got != tt.want {
			t.Errorf("SameKeys(%s, swapped) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestThumbprintRFC7638(t *testing.T) {
	k, err := newKey(rfc7638Key(t))
	if err != nil {
		t.Fatal(err)
	}
	if k.kid != rfc7638KID {
		t.Errorf("kid = %q, want %q", k.kid, rfc7638KID)
	}
	if k.jwk.N != rfc7638N || k.jwk.E != "AQAB" {
		t.Errorf("jwk n, e = %q, %q; want the RFC's", k.jwk.N, k.jwk.E)
	}
	// The same key given as an extra public key shows up in the JWKS.
	f := newFixture(t, "RS256")
	f.access = mustKeySet(t, f.private[0], rfc7638Key(t))
	if f.s, err = New(f.options()); err != nil {
		t.Fatal(err)
	}
	if kids := jwksKids(t, f.s.JWKS()); !slices.Contains(kids, rfc7638KID) {
		t.Errorf("JWKS kids = %v, want %s among them", kids, rfc7638KID)
	}
}

func jwksKids(t *testing.T, b []byte) []string {
	t.Helper()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatalf("JWKS %s: %v", b, err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k["kid"])
	}
	return kids
}

func TestJWKS(t *testing.T) {
	k := getKeys(t)
	f := newFixture(t, "RS256")
	f.access = mustKeySet(t, k.rsa[0], k.ec[2].Public(), k.ed[2].Public(), k.rsa[0].Public())
	f.refresh = mustKeySet(t, k.rsa[1], k.rsa[2].Public())
	s, err := New(f.options())
	if err != nil {
		t.Fatal(err)
	}
	b := s.JWKS()
	if b2 := s.JWKS(); &b2[0] != &b[0] {
		t.Errorf("JWKS returned a new slice on the second call")
	}

	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&set); err != nil {
		t.Fatalf("JWKS %s: %v", b, err)
	}
	want := []crypto.PublicKey{k.rsa[0].Public(), k.ec[2].Public(), k.ed[2].Public()}
	if len(set.Keys) != len(want) {
		t.Fatalf("JWKS has %d keys, want %d (access signing key and extras, no duplicates): %s", len(set.Keys), len(want), b)
	}
	members := map[string][]string{
		"RSA": {"alg", "e", "kid", "kty", "n", "use"},
		"EC":  {"alg", "crv", "kid", "kty", "use", "x", "y"},
		"OKP": {"alg", "crv", "kid", "kty", "use", "x"},
	}
	for i, got := range set.Keys {
		wantKey, err := newKey(want[i])
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for name := range got {
			names = append(names, name)
		}
		slices.Sort(names)
		if !slices.Equal(names, members[got["kty"]]) {
			t.Errorf("key %d members = %v, want %v", i, names, members[got["kty"]])
		}
		if got["kid"] != wantKey.kid || got["alg"] != wantKey.alg || got["use"] != "sig" {
			t.Errorf("key %d = kid %q alg %q use %q, want %q %q sig", i, got["kid"], got["alg"], got["use"], wantKey.kid, wantKey.alg)
		}
		pub := jwkPublic(t, got)
		if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(want[i]) {
			t.Errorf("key %d does not decode to the public key", i)
		}
		// kid is the RFC 7638 thumbprint of what is published.
		if k, err := newKey(pub); err != nil || k.kid != got["kid"] {
			t.Errorf("key %d: thumbprint of published members = %v, %v; want %s", i, k, err, got["kid"])
		}
	}
}

// jwkPublic rebuilds a public key from JWK members.
func jwkPublic(t *testing.T, m map[string]string) crypto.PublicKey {
	t.Helper()
	dec := func(name string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(m[name])
		if err != nil {
			t.Fatalf("member %s: %v", name, err)
		}
		return b
	}
	switch m["kty"] {
	case "RSA":
		return &rsa.PublicKey{N: new(big.Int).SetBytes(dec("n")), E: int(new(big.Int).SetBytes(dec("e")).Int64())}
	case "EC":
		x, y := dec("x"), dec("y")
		if m["crv"] != "P-256" || len(x) != 32 || len(y) != 32 {
			t.Fatalf("EC key crv %s, x %d bytes, y %d bytes", m["crv"], len(x), len(y))
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), slices.Concat([]byte{4}, x, y))
		if err != nil {
			t.Fatal(err)
		}
		return pub
	case "OKP":
		if m["crv"] != "Ed25519" {
			t.Fatalf("OKP crv %s", m["crv"])
		}
		return ed25519.PublicKey(dec("x"))
	}
	t.Fatalf("kty %q", m["kty"])
	return nil
}

func TestGenerateKey(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			if alg == "RS256" && testing.Short() {
				t.Skip("RSA generation is slow")
			}
			priv, pub, err := GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := pem.Decode(priv); b == nil || b.Type != "PRIVATE KEY" {
				t.Errorf("private key is not a PKCS#8 PEM block")
			}
			if b, _ := pem.Decode(pub); b == nil || b.Type != "PUBLIC KEY" {
				t.Errorf("public key is not a PKIX PEM block")
			}
			ks, err := ParseKeySet(base64.StdEncoding.EncodeToString(priv), string(pub), nil)
			if err != nil {
				t.Fatalf("ParseKeySet: %v", err)
			}
			if got := ks.Alg(); got != alg {
				t.Errorf("Alg() = %q, want %q", got, alg)
			}
			if r, ok := ks.private.(*rsa.PrivateKey); ok && r.N.BitLen() != 2048 {
				t.Errorf("RSA key is %d bits, want 2048", r.N.BitLen())
			}
		})
	}
	if _, _, err := GenerateKey("HS256"); err == nil {
		t.Errorf("GenerateKey(HS256) succeeded")
	}
}
