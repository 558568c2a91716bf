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

	"github.com/authd/authd/internal/metrics"
)

// BenchmarkMiddleware measures the chain every request passes (recover,
// log, headers, CORS, deadline, mux) around the cheapest handler.
func BenchmarkMiddleware(b *testing.B) {
	d := Deps{
		Log:     slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Metrics: metrics.New(),
		Options: Options{ClientOrigins: []string{"http://localhost:3000"}},
	}
	h := NewServer(d)
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
