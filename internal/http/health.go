package http

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/authd/authd/internal/metrics"
)

// readyTimeout bounds one readiness check: a probe wants a quick answer.
const readyTimeout = 2 * time.Second

// handleHealthchecker is the tutorial's health route. Its readers wait for
// it before they call the API, so it answers the tutorial's 200 only when
// the API can serve: on the condition of /readyz (ready; nil: always), and
// otherwise the same 503 with Retry-After. /healthz is the liveness check.
func handleHealthchecker(log *slog.Logger, ready func(context.Context) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isReady(r, ready) {
			writeError(w, r, log, errNotReady)
			return
		}
		encode(w, http.StatusOK, messageEnvelope{Status: "success", Message: "Welcome to authd"})
	})
}

// handleLive answers while the process can serve HTTP at all.
func handleLive() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encode(w, http.StatusOK, messageEnvelope{Status: "success", Message: "alive"})
	})
}

// handleReady answers 200 only when ready (nil: always) says the service
// can take traffic.
func handleReady(log *slog.Logger, ready func(context.Context) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isReady(r, ready) {
			writeError(w, r, log, errNotReady)
			return
		}
		encode(w, http.StatusOK, messageEnvelope{Status: "success", Message: "ready"})
	})
}

// isReady runs ready (nil: always ready) within readyTimeout.
func isReady(r *http.Request, ready func(context.Context) error) bool {
	if ready == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	return ready(ctx) == nil
}

// MetricsHandler serves the metrics in the Prometheus text format (not JSON:
// this is for scrapers).
func MetricsHandler(m *metrics.Metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		m.Write(w)
	})
}

// handleJWKS publishes the access-token public keys.
func handleJWKS(jwks []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("Cache-Control", "public, max-age=300")
		w.WriteHeader(http.StatusOK)
		w.Write(jwks)
	})
}
