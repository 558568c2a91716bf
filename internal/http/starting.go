package http

import (
	"log/slog"
	"net/http"
)

// Starting answers while the database is not yet reachable: the process is
// live but not ready. /healthz answers as the API does, /readyz and the
// tutorial's /api/healthchecker 503 not_ready, anything else 503 unavailable,
// all with Retry-After, in the API's envelope and with its security headers.
func Starting() http.Handler {
	discard := slog.New(slog.DiscardHandler) // the errors below are ours: nothing is logged
	live := handleLive()
	return secureHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		get := r.Method == http.MethodGet || r.Method == http.MethodHead
		switch {
		case get && r.URL.Path == "/healthz":
			live.ServeHTTP(w, r)
		case get && (r.URL.Path == "/readyz" || r.URL.Path == "/api/healthchecker"):
			writeError(w, r, discard, errNotReady)
		default:
			writeError(w, r, discard, errUnavailable)
		}
	}))
}
