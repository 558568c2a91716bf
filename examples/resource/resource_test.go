package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	user    = "0b6f7c1e-8d3a-4f5b-9c2d-1e2f3a4b5c6d"
	session = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
)

// fakeAuthd serves a JWKS of one ES256 key made here and signs access
// tokens as authd does.
type fakeAuthd struct {
	*httptest.Server
	key  *ecdsa.PrivateKey
	down atomic.Bool
}

func newFakeAuthd(t *testing.T) *fakeAuthd {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := key.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig", "x": b64(pt[1:33]), "y": b64(pt[33:]),
	}}})
	f := &fakeAuthd{key: key}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/jwks.json" || f.down.Load() {
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		}
		w.Write(jwks)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAuthd) token(t *testing.T, aud string) string {
	t.Helper()
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss": "authd", "aud": aud, "sub": user, "sid": session, "jti": "j1",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(15 * time.Minute).Unix(), "aal": 2,
	})
	tok.Header["typ"], tok.Header["kid"] = "at+jwt", "k1"
	s, err := tok.SignedString(f.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var secretKey = []byte("0123456789abcdef0123456789abcdef")

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func get(t *testing.T, h http.Handler, auth ...string) (int, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/api/resource", nil)
	for _, a := range auth {
		r.Header.Add("Authorization", a)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("not JSON: %s", w.Body)
	}
	return w.Code, body
}

// TestResource: the routes, against a stand-in for authd's JWKS and a
// session.revoked delivery signed here.
func TestResource(t *testing.T) {
	f := newFakeAuthd(t)
	h, err := newHandler(env(map[string]string{
		"AUTHD_URL": f.URL, "WEBHOOK_SECRET": "whsec_" + base64.StdEncoding.EncodeToString(secretKey),
	}), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	tok := f.token(t, "authd")

	code, body := get(t, h, "Bearer "+tok)
	data, _ := body["data"].(map[string]any)
	if code != 200 || data["subject"] != user || data["aal"] != 2.0 || data["session"] != session {
		t.Fatalf("with the token: %d %v", code, body)
	}
	for _, tc := range []struct {
		name string
		auth []string
		want int
		code string
	}{
		{"no token", nil, 401, "not_logged_in"},
		{"Basic", []string{"Basic YTpi"}, 401, "not_logged_in"},
		{"another audience", []string{"Bearer " + f.token(t, "other")}, 401, "invalid_token"},
		{"garbage", []string{"Bearer x.y.z"}, 401, "invalid_token"},
		{"two headers", []string{"Bearer " + tok, "Bearer " + tok}, 400, "invalid_request"},
	} {
		if code, body := get(t, h, tc.auth...); code != tc.want || body["code"] != tc.code || body["status"] != "fail" {
			t.Errorf("%s: %d %v, want %d %s", tc.name, code, body, tc.want, tc.code)
		}
	}

	// authd says the session was revoked.
	ev := `{"type":"session.revoked","timestamp":"2027-01-15T08:00:00Z","data":{"session_id":"` + session +
		`","user_id":"` + user + `","reason":"logout_current","access_expires_by":"` +
		time.Now().Add(15*time.Minute).UTC().Format(time.RFC3339) + `"}}`
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, secretKey)
	mac.Write([]byte("evt_1." + ts + "." + ev))
	r := httptest.NewRequest(http.MethodPost, "/webhooks/authd", strings.NewReader(ev))
	r.Header.Set("webhook-id", "evt_1")
	r.Header.Set("webhook-timestamp", ts)
	r.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusNoContent {
		t.Fatalf("webhook: %d %s", w.Code, w.Body)
	}
	if code, body := get(t, h, "Bearer "+tok); code != 401 || body["code"] != "invalid_token" {
		t.Errorf("after the revocation: %d %v, want 401 invalid_token", code, body)
	}
}

// TestResourceAuthdDown: without authd's key set the answer is 503, not
// 401 (a client should retry, not log in again).
func TestResourceAuthdDown(t *testing.T) {
	f := newFakeAuthd(t)
	f.down.Store(true)
	h, err := newHandler(env(map[string]string{"AUTHD_URL": f.URL}), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, h, "Bearer "+f.token(t, "authd")); code != 503 || body["status"] != "error" {
		t.Errorf("%d %v, want 503", code, body)
	}
}

func TestNewHandlerSettings(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, m := range []map[string]string{
		{},
		{"AUTHD_URL": "http://localhost:8000", "WEBHOOK_SECRET": "whsec_short"},
	} {
		if _, err := newHandler(env(m), log); err == nil {
			t.Errorf("newHandler(%v) = nil error", m)
		}
	}
	// Without a secret there is no webhook route.
	h, err := newHandler(env(map[string]string{"AUTHD_URL": "http://localhost:8000"}), log)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/webhooks/authd", strings.NewReader("{}")))
	if w.Code != http.StatusNotFound {
		t.Errorf("webhook without a secret: %d, want 404", w.Code)
	}
}
