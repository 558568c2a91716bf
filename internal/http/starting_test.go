package http

import (
	"net/http/httptest"
	"testing"
)

// TestStarting: while the database is awaited, the health routes answer as a
// live but not ready service (the tutorial's /api/healthchecker as /readyz:
// a script that waits for it must not register into a 503), and everything
// else 503 with Retry-After.
func TestStarting(t *testing.T) {
	h := Starting()
	tests := []struct {
		method, path string
		status       int
		body         string
		retryAfter   string
	}{
		{"GET", "/healthz", 200, `{"status":"success","message":"alive"}`, ""},
		{"HEAD", "/api/healthchecker", 503, `{"status":"error","message":"not ready","code":"not_ready"}`, "2"},
		{"GET", "/api/healthchecker", 503, `{"status":"error","message":"not ready","code":"not_ready"}`, "2"},
		{"GET", "/readyz", 503, `{"status":"error","message":"not ready","code":"not_ready"}`, "2"},
		{"POST", "/api/auth/login", 503, `{"status":"error","message":"service temporarily unavailable, try again shortly","code":"unavailable"}`, "2"},
		{"POST", "/healthz", 503, `{"status":"error","message":"service temporarily unavailable, try again shortly","code":"unavailable"}`, "2"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if got, want := rec.Code, tt.status; got != want {
				t.Errorf("status %d, want %d", got, want)
			}
			if got, want := rec.Body.String(), tt.body+"\n"; got != want {
				t.Errorf("body %q, want %q", got, want)
			}
			for name, want := range map[string]string{
				"Retry-After":            tt.retryAfter,
				"Content-Type":           "application/json; charset=utf-8",
				"Cache-Control":          "no-store",
				"X-Content-Type-Options": "nosniff",
				"X-Frame-Options":        "DENY",
			} {
				if got := rec.Header().Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}
