package http

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/password"
)

// apiError is an error whose message is safe to show to the client.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.message }

func badRequest(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "invalid_request", message: msg}
}

var (
	errUnsupportedMedia = &apiError{http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json"}
	errTooLarge         = &apiError{http.StatusRequestEntityTooLarge, "body_too_large", "request body is larger than 64 KiB"}
	errNotLoggedIn      = &apiError{http.StatusUnauthorized, "not_logged_in", "You are not logged in"}
	errBadToken         = &apiError{http.StatusUnauthorized, "invalid_token", "Your token is invalid or has expired"}
	errBadCredentials   = &apiError{http.StatusBadRequest, "invalid_credentials", "Invalid email or Password"}
	errNoRefresh        = &apiError{http.StatusForbidden, "refresh_failed", "could not refresh access token"}
	errCrossSite        = &apiError{http.StatusForbidden, "cross_site", "cross-site request refused"}
	errEmailTaken       = &apiError{http.StatusConflict, "email_taken", "User with that email already exists"}
	errNotFound         = &apiError{http.StatusNotFound, "not_found", "not found"}
	errUnavailable      = &apiError{http.StatusServiceUnavailable, "unavailable", "service temporarily unavailable, try again shortly"}
	errBusy             = &apiError{http.StatusServiceUnavailable, "busy", "server is busy, try again shortly"}
	errInternal         = &apiError{http.StatusInternalServerError, "internal", "internal error"}
)

// envelope is the seed's JSON error shape, plus a stable machine code.
type envelope struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Code    string `json:"code,omitempty"`
}

// writeError answers with err: its own message if it is an apiError, 503 if
// the database or the hashing pool is unavailable, otherwise a logged 500
// whose details never reach the client.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var e *apiError
	switch {
	case errors.As(err, &e):
	case errors.Is(err, password.ErrBusy):
		e = errBusy
	case errors.Is(err, db.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		log.LogAttrs(r.Context(), slog.LevelWarn, "database unavailable", slog.String("error", err.Error()))
		e = errUnavailable
	default:
		log.LogAttrs(r.Context(), slog.LevelError, "internal error", slog.String("error", err.Error()))
		e = errInternal
	}
	h := w.Header()
	switch e.status {
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="authd"`)
	case http.StatusServiceUnavailable:
		h.Set("Retry-After", "2")
	}
	status := "fail"
	if e.status >= 500 {
		status = "error"
	}
	encode(w, e.status, envelope{Status: status, Message: e.message, Code: e.code})
}
