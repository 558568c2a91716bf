package http

import (
	"context"
	"net/http"
	"time"

	"github.com/authd/authd/internal/metrics"
)

type messageEnvelope struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// handleHealthchecker is the tutorial's health route.
func handleHealthchecker() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encode(w, http.StatusOK, messageEnvelope{Status: "success", Message: "Welcome to authd"})
	})
}

// handleLive answers while the process can serve HTTP at all.
func handleLive() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encode(w, http.StatusOK, messageEnvelope{Status: "success", Message: "alive"})
	})
}

// handleReady answers 200 only when Ready says the service can take traffic.
func handleReady(d *Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), min(d.Options.DBTimeout, 2*time.Second))
		defer cancel()
		if d.Ready != nil {
			if err := d.Ready(ctx); err != nil {
				w.Header().Set("Retry-After", "2")
				w.Header().Set("Cache-Control", "no-store")
				encode(w, http.StatusServiceUnavailable, envelope{Status: "error", Message: "not ready", Code: "not_ready"})
				return
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		encode(w, http.StatusOK, messageEnvelope{Status: "success", Message: "ready"})
	})
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
func handleJWKS(d *Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := d.Tokens.JWKS()
		h := w.Header()
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("Cache-Control", "public, max-age=300")
		w.WriteHeader(http.StatusOK)
		w.Write(body)
	})
}
