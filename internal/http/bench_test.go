package http

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/session"
	"github.com/authd/authd/internal/token"
)

// BenchmarkMiddleware measures the chain every request passes (recover,
// log, headers, CORS, deadline, mux) around the cheapest handler.
func BenchmarkMiddleware(b *testing.B) {
	d := Deps{
		Log:     slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Metrics: metrics.New(),
	}
	h := NewServer(d, Options{ClientOrigins: []string{"http://localhost:3000"}, RequestTimeout: 10 * time.Second})
	req := httptest.NewRequest("GET", "/healthz", nil)
	req.Header.Set("Origin", "http://localhost:3000")
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkEncodeUser measures the /api/users/me response body.
func BenchmarkEncodeUser(b *testing.B) {
	u := userEnvelope{Status: "success", Data: userData{userResponse{
		ID: uuid.New(), Name: "Ada Lovelace", Email: "ada@example.com", Role: "user",
		Photo: "https://example.com/ada.png", Provider: "local", CreatedAt: time.Now(), UpdatedAt: time.Now(),
	}}}
	b.ReportAllocs()
	for b.Loop() {
		encode(httptest.NewRecorder(), http.StatusOK, u)
	}
}

// BenchmarkDecodeLogin measures strict decoding of a login body.
func BenchmarkDecodeLogin(b *testing.B) {
	body := `{"email":"ada@example.com","password":"correct horse battery"}`
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if _, err := decode[loginBody](httptest.NewRecorder(), r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMe measures GET /api/users/me through the whole server (Bearer
// verify, one query on a real PostgreSQL, encode), without the network.
func BenchmarkMe(b *testing.B) {
	f := newBenchFixture(b, "RS256")
	req := httptest.NewRequest("GET", "/api/users/me", nil)
	req.Header.Set("Authorization", "Bearer "+f.access)
	b.ReportAllocs()
	b.ResetTimer() // key generation and the database clone are not the request
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			f.h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Errorf("status %d", w.Code)
				return
			}
		}
	})
}

type benchFixture struct {
	h      http.Handler
	access string
}

// newBenchFixture serves the API over a fresh database with one logged-in
// user, keys of the given algorithm and logging at warn.
func newBenchFixture(b *testing.B, alg string) benchFixture {
	b.Helper()
	pool := dbtest.New(b)
	q := db.New(pool)
	var sets [2]*token.KeySet
	for i := range sets {
		priv, _, err := token.GenerateKey(alg)
		if err != nil {
			b.Fatal(err)
		}
		if sets[i], err = token.ParseKeySet(string(priv), "", nil); err != nil {
			b.Fatal(err)
		}
	}
	signer, err := token.New(token.Options{Access: sets[0], Refresh: sets[1], Issuer: "authd", Audience: "authd",
		AccessTTL: 15 * time.Minute, RefreshTTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	u, err := q.CreateUser(b.Context(), db.CreateUserParams{Name: "Bench", Email: "bench@example.com", PasswordHash: "x", Now: now})
	if err != nil {
		b.Fatal(err)
	}
	s, err := q.CreateSession(b.Context(), db.CreateSessionParams{UserID: u.ID, CurrentHash: []byte{1}, Now: now,
		IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(24 * time.Hour)})
	if err != nil {
		b.Fatal(err)
	}
	access, err := signer.Access(u.ID, s.ID)
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m := metrics.New()
	sessions := session.New(session.Deps{DB: pool, DBTimeout: 3 * time.Second, Tokens: signer, Log: log, Metrics: m},
		session.Options{RefreshTTL: time.Hour, SessionLifetime: 24 * time.Hour})
	h := NewServer(Deps{Log: log, Sessions: sessions, JWKS: signer.JWKS(), Metrics: m}, Options{RequestTimeout: 10 * time.Second})
	return benchFixture{h: h, access: access}
}
