package http

import (
	"log/slog"
	"net/http"
)

// Starting answers while the database is not yet reachable: the process is
// live but not ready. /healthz and /api/healthchecker answer as the API does,
// /readyz 503 not_ready, anything else 503 unavailable with Retry-After, in
// the API's envelope and with its security headers.
func Starting() http.Handler {
	discard := slog.New(slog.DiscardHandler) // the errors below are ours: nothing is logged
	live, welcome := handleLive(), handleHealthchecker()
	return secureHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		get := r.Method == http.MethodGet || r.Method == http.MethodHead
		switch {
		case get && r.URL.Path == "/healthz":
			live.ServeHTTP(w, r)
		case get && r.URL.Path == "/api/healthchecker":
			welcome.ServeHTTP(w, r)
		case get && r.URL.Path == "/readyz":
			writeError(w, r, discard, errNotReady)
		default:
			writeError(w, r, discard, errUnavailable)
		}
	}))
}
