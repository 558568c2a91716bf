package http

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/password"
)

// apiError is an error whose message is safe to show to the client.
type apiError struct {
	status     int
	code       string
	message    string
	retryAfter time.Duration // for 429 and 503; 0: the default
}

func (e *apiError) Error() string { return e.message }

// throttled is a 429 that says when to come back.
func throttled(after time.Duration) *apiError {
	return &apiError{status: http.StatusTooManyRequests, code: "throttled",
		message: "too many attempts, try again later", retryAfter: max(after, time.Second)}
}

func badRequest(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "invalid_request", message: msg}
}

var (
	errUnsupportedMedia = &apiError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type", message: "Content-Type must be application/json"}
	errTooLarge         = &apiError{status: http.StatusRequestEntityTooLarge, code: "body_too_large", message: "request body is larger than 64 KiB"}
	errNotLoggedIn      = &apiError{status: http.StatusUnauthorized, code: "not_logged_in", message: "You are not logged in"}
	errBadToken         = &apiError{status: http.StatusUnauthorized, code: "invalid_token", message: "Your token is invalid or has expired"}
	errBadCredentials   = &apiError{status: http.StatusBadRequest, code: "invalid_credentials", message: "Invalid email or Password"}
	errNoRefresh        = &apiError{status: http.StatusForbidden, code: "refresh_failed", message: "could not refresh access token"}
	errCrossSite        = &apiError{status: http.StatusForbidden, code: "cross_site", message: "cross-site request refused"}
	errEmailTaken       = &apiError{status: http.StatusConflict, code: "email_taken", message: "User with that email already exists"}
	errNotFound         = &apiError{status: http.StatusNotFound, code: "not_found", message: "not found"}
	errUnavailable      = &apiError{status: http.StatusServiceUnavailable, code: "unavailable", message: "service temporarily unavailable, try again shortly"}
	errBusy             = &apiError{status: http.StatusServiceUnavailable, code: "busy", message: "server is busy, try again shortly"}
	errClientGone       = &apiError{status: 499, code: "client_closed_request", message: "client closed request"}
	errInternal         = &apiError{status: http.StatusInternalServerError, code: "internal", message: "internal error"}
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
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away: nobody reads this answer, and it is not our
		// fault. 499 (nginx's "client closed request") keeps it out of 5xx
		// alerts.
		e = errClientGone
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
		if e == errBadToken {
			h.Set("WWW-Authenticate", `Bearer realm="authd", error="invalid_token"`)
		} else {
			h.Set("WWW-Authenticate", `Bearer realm="authd"`)
		}
	case http.StatusServiceUnavailable:
		h.Set("Retry-After", "2")
	}
	if e.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(e.retryAfter.Seconds()))))
	}
	status := "fail"
	if e.status >= 500 {
		status = "error"
	}
	encode(w, e.status, envelope{Status: status, Message: e.message, Code: e.code})
}
