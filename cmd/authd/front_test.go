package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	authhttp "github.com/authd/authd/internal/http"
)

// TestFrontAnswersAsTheAPI: while the database is awaited, front answers the
// health routes exactly as the API does when it is not ready, headers
// included; once the service is behind it, everything goes there.
func TestFrontAnswersAsTheAPI(t *testing.T) {
	notReady := authhttp.NewServer(authhttp.Deps{
		Log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Ready: func(context.Context) error { return errors.New("starting") },
	}, authhttp.Options{})
	var f front
	headers := []string{"Content-Type", "Content-Length", "Cache-Control", "X-Content-Type-Options",
		"Referrer-Policy", "Content-Security-Policy", "X-Frame-Options", "Retry-After"}
	for _, path := range []string{"/healthz", "/readyz", "/api/healthchecker"} {
		for _, method := range []string{"GET", "HEAD"} {
			got, want := httptest.NewRecorder(), httptest.NewRecorder()
			f.ServeHTTP(got, httptest.NewRequest(method, path, nil))
			notReady.ServeHTTP(want, httptest.NewRequest(method, path, nil))
			if got.Code != want.Code || got.Body.String() != want.Body.String() {
				t.Errorf("%s %s: front %d %q, API %d %q", method, path, got.Code, got.Body, want.Code, want.Body)
			}
			for _, h := range headers {
				if g, w := got.Header().Get(h), want.Header().Get(h); g != w {
					t.Errorf("%s %s: %s = %q, the API's %q", method, path, h, g, w)
				}
			}
		}
	}

	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, httptest.NewRequest("POST", "/api/auth/login", nil))
	if got, want := rec.Body.String(), `{"status":"error","message":"service temporarily unavailable, try again shortly","code":"unavailable"}`+"\n"; rec.Code != 503 || got != want {
		t.Errorf("login while starting: %d %q, want 503 %q", rec.Code, got, want)
	}

	f.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	rec = httptest.NewRecorder()
	f.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusTeapot {
		t.Errorf("after serve: %d, want the service's answer", rec.Code)
	}
}
