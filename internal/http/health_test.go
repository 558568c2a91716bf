package http

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
)

// TestHealthcheckerIsReadiness: the tutorial's health route answers 200 with
// the tutorial's body only when the service is ready (the condition of
// /readyz: database reached, schema migrated, not draining); otherwise 503
// in the JSON envelope with Retry-After, as /readyz. /healthz stays 200:
// liveness does not depend on the database.
func TestHealthcheckerIsReadiness(t *testing.T) {
	var notReady error
	h := NewServer(Deps{
		Log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Ready: func(context.Context) error { return notReady },
	}, Options{})
	get := func(path string) (int, string, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, rec.Body.String(), rec.Header().Get("Retry-After")
	}
	const welcome = `{"status":"success","message":"Welcome to authd"}` + "\n"
	const notReadyBody = `{"status":"error","message":"not ready","code":"not_ready"}` + "\n"
	for _, tt := range []struct {
		name  string
		ready error
		want  map[string]string // path: body
		code  int
	}{
		{"ready", nil, map[string]string{"/api/healthchecker": welcome, "/readyz": `{"status":"success","message":"ready"}` + "\n"}, 200},
		{"schema behind", errors.New("schema version 8 (dirty false), want at least 9"), map[string]string{"/api/healthchecker": notReadyBody, "/readyz": notReadyBody}, 503},
		{"database down", errors.New("database unavailable"), map[string]string{"/api/healthchecker": notReadyBody, "/readyz": notReadyBody}, 503},
	} {
		t.Run(tt.name, func(t *testing.T) {
			notReady = tt.ready
			for path, body := range tt.want {
				code, got, retry := get(path)
				if code != tt.code || got != body {
					t.Errorf("GET %s: %d %q, want %d %q", path, code, got, tt.code, body)
				}
				if wantRetry := map[bool]string{true: "2", false: ""}[tt.code == 503]; retry != wantRetry {
					t.Errorf("GET %s: Retry-After %q, want %q", path, retry, wantRetry)
				}
			}
			if code, got, _ := get("/healthz"); code != 200 || got != `{"status":"success","message":"alive"}`+"\n" {
				t.Errorf("GET /healthz: %d %q, want 200 alive whatever the database", code, got)
			}
		})
	}
}
