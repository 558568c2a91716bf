// Command resource is an example resource service: another service of
// yours that trusts authd's access tokens. It checks them offline with
// the verify package (authd's JWKS, cached) and refuses the tokens of a
// logged-out session within about a second, through authd's
// session.revoked webhooks.
//
//	AUTHD_URL=http://localhost:8000 WEBHOOK_SECRET=whsec_... PORT=8081 go run ./examples/resource
//
// Settings (environment):
//
//	AUTHD_URL       authd's base URL; the key set is AUTHD_URL/.well-known/jwks.json (required)
//	WEBHOOK_SECRET  the secret(s) of this service's endpoint in authd's WEBHOOKS_FILE,
//	                separated by spaces; empty: no deny-set, so a logged-out session's
//	                tokens work here until they expire
//	TOKEN_ISSUER    authd's TOKEN_ISSUER (default "authd")
//	TOKEN_AUDIENCE  authd's TOKEN_AUDIENCE (default "authd")
//	PORT            the port to listen on (default 8081; 0 picks a free one)
//	LISTEN_HOST     the address to listen on (default: all)
//
// Routes:
//
//	GET  /api/resource   Authorization: Bearer <access token> → 200 {"status":"success","data":{"subject":...,"session":...,"aal":...}},
//	                     else 401 in authd's envelope
//	POST /webhooks/authd authd's signed webhook deliveries (only with WEBHOOK_SECRET)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/authd/authd/verify"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "resource:", err)
		os.Exit(1)
	}
}

// run serves until ctx is cancelled.
func run(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	h, err := newHandler(getenv, log)
	if err != nil {
		return err
	}
	port := getenv("PORT")
	if port == "" {
		port = "8081"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(getenv("LISTEN_HOST"), port))
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("resource listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shut)
}

// newHandler reads the settings and returns the service's routes.
func newHandler(getenv func(string) string, log *slog.Logger) (http.Handler, error) {
	base := strings.TrimSuffix(getenv("AUTHD_URL"), "/")
	if base == "" {
		return nil, errors.New("AUTHD_URL is required")
	}
	issuer, audience := getenv("TOKEN_ISSUER"), getenv("TOKEN_AUDIENCE")
	if issuer == "" {
		issuer = "authd"
	}
	if audience == "" {
		audience = "authd"
	}
	mux := http.NewServeMux()
	var deny *verify.DenySet
	if secrets := strings.Fields(getenv("WEBHOOK_SECRET")); len(secrets) > 0 {
		deny = verify.NewDenySet(verify.DenyOptions{})
		webhook, err := deny.Handler(secrets...)
		if err != nil {
			return nil, fmt.Errorf("WEBHOOK_SECRET: %w", err)
		}
		mux.Handle("POST /webhooks/authd", webhook)
	} else {
		log.Warn("no WEBHOOK_SECRET: a logged-out session's access tokens work here until they expire")
	}
	v, err := verify.New(verify.Options{
		JWKSURL: base + "/.well-known/jwks.json", Issuer: issuer, Audience: audience, Deny: deny,
	})
	if err != nil {
		return nil, err
	}
	mux.Handle("GET /api/resource", handleResource(v, log))
	return mux, nil
}

// handleResource answers who the token's user is.
func handleResource(v *verify.Verifier, log *slog.Logger) http.Handler {
	type data struct {
		Subject string `json:"subject"`
		Session string `json:"session"`
		AAL     int    `json:"aal"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Values("Authorization")
		if len(auth) > 1 {
			writeJSON(w, http.StatusBadRequest, envelope{Status: "fail", Code: "invalid_request", Message: "more than one Authorization header"})
			return
		}
		scheme, token, _ := strings.Cut(strings.Join(auth, ""), " ")
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="resource"`)
			writeJSON(w, http.StatusUnauthorized, envelope{Status: "fail", Code: "not_logged_in", Message: "You are not logged in"})
			return
		}
		c, err := v.Verify(r.Context(), token)
		switch {
		case errors.Is(err, verify.ErrInvalid):
			log.Info("token refused", "err", err) // the reason, never the token
			w.Header().Set("WWW-Authenticate", `Bearer realm="resource", error="invalid_token"`)
			writeJSON(w, http.StatusUnauthorized, envelope{Status: "fail", Code: "invalid_token", Message: "Your token is invalid or has expired"})
			return
		case err != nil:
			log.Warn("cannot check tokens", "err", err)
			w.Header().Set("Retry-After", "2")
			writeJSON(w, http.StatusServiceUnavailable, envelope{Status: "error", Code: "unavailable", Message: "service temporarily unavailable, try again shortly"})
			return
		}
		writeJSON(w, http.StatusOK, envelope{Status: "success", Data: data{Subject: c.Subject, Session: c.Session, AAL: c.AAL}})
	})
}

// envelope is authd's answer shape.
type envelope struct {
	Status  string `json:"status"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	Data    any    `json:"data,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v envelope) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
