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
	"github.com/authd/authd/internal/session"
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
	errTwoCredentials   = &apiError{status: http.StatusBadRequest, code: "invalid_request", message: "more than one Authorization header"}
	errCrossSite        = &apiError{status: http.StatusForbidden, code: "cross_site", message: "cross-site request refused"}
	errOriginNotAllowed = &apiError{status: http.StatusForbidden, code: "origin_not_allowed", message: "origin not allowed"}
	errMethodNotAllowed = &apiError{status: http.StatusMethodNotAllowed, code: "method_not_allowed", message: "method not allowed"}
	errEmailTaken       = &apiError{status: http.StatusConflict, code: "email_taken", message: "User with that email already exists"}
	errNotFound         = &apiError{status: http.StatusNotFound, code: "not_found", message: "not found"}
	errNotReady         = &apiError{status: http.StatusServiceUnavailable, code: "not_ready", message: "not ready"}
	errUnavailable      = &apiError{status: http.StatusServiceUnavailable, code: "unavailable", message: "service temporarily unavailable, try again shortly"}
	errBusy             = &apiError{status: http.StatusServiceUnavailable, code: "busy", message: "server is busy, try again shortly", retryAfter: 2 * time.Second} // paced like every busy 503
	errClientGone       = &apiError{status: 499, code: "client_closed_request", message: "client closed request"}
	errInternal         = &apiError{status: http.StatusInternalServerError, code: "internal", message: "internal error"}

	// The account flows; the messages of the tutorial's routes are its own.
	errBadResetToken       = &apiError{status: http.StatusBadRequest, code: "invalid_one_time_token", message: "The reset token is invalid or has expired"}
	errBadVerificationCode = &apiError{status: http.StatusBadRequest, code: "invalid_one_time_token", message: "Invalid verification code or user doesn't exists"}
	errAlreadyVerified     = &apiError{status: http.StatusConflict, code: "already_verified", message: "User already verified"}
	errEmailNotVerified    = &apiError{status: http.StatusForbidden, code: "email_not_verified", message: "Please verify your email"}
	errSamePassword        = &apiError{status: http.StatusBadRequest, code: "password_unchanged", message: "The new password must differ from the current one"}
	errSameEmail           = &apiError{status: http.StatusBadRequest, code: "email_unchanged", message: "That is already the account's address"}
	errLastAdmin           = &apiError{status: http.StatusConflict, code: "last_admin", message: "The last admin cannot delete their account"}
	errBadEmailChangeToken = &apiError{status: http.StatusBadRequest, code: "invalid_one_time_token", message: "The email change token is invalid or has expired"}

	// The second factor; a wrong code's message is the tutorial's.
	errBadCode        = &apiError{status: http.StatusBadRequest, code: "invalid_code", message: "Token is invalid or user doesn't exist"}
	errBadTicket      = &apiError{status: http.StatusBadRequest, code: "invalid_ticket", message: "The login ticket is invalid or has expired, please log in again"}
	errMFAEnabled     = &apiError{status: http.StatusConflict, code: "mfa_enabled", message: "Two-factor authentication is already on"}
	errNoFactor       = &apiError{status: http.StatusConflict, code: "no_factor", message: "There is no such second factor"}
	errMFAUnavailable = &apiError{status: http.StatusNotImplemented, code: "mfa_unavailable", message: "Two-factor authentication is not configured on this server"}
	errReauthRequired = &apiError{status: http.StatusForbidden, code: "reauth_required", message: "Please authenticate again (POST /api/auth/reauthenticate) and retry"}
	errCodeRequired   = &apiError{status: http.StatusForbidden, code: "code_required", message: "A two-factor code is needed for this: send the current code"}
	errNotYourUser    = &apiError{status: http.StatusForbidden, code: "user_mismatch", message: "user_id is not the logged-in user"}
)

// apiErrorOf maps any error to what the client is told: its own message
// for an apiError, the API's answer for a session error, 503 when the
// database or the hashing pool is unavailable, and otherwise a logged 500
// whose details never reach the client.
func apiErrorOf(r *http.Request, log *slog.Logger, err error) *apiError {
	var (
		e       *apiError
		invalid *session.InvalidError
		locked  *session.LockedError
		mfaLock *session.MFALockedError
	)
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &invalid):
		return badRequest(invalid.Problem)
	case errors.As(err, &locked):
		return throttled(locked.RetryAfter)
	case errors.As(err, &mfaLock):
		return throttled(mfaLock.RetryAfter)
	case errors.Is(err, session.ErrBadCode):
		return errBadCode
	case errors.Is(err, session.ErrTicketInvalid):
		return errBadTicket
	case errors.Is(err, session.ErrMFAEnabled):
		return errMFAEnabled
	case errors.Is(err, session.ErrNoFactor):
		return errNoFactor
	case errors.Is(err, session.ErrMFAUnavailable):
		return errMFAUnavailable
	case errors.Is(err, session.ErrReauthRequired):
		return errReauthRequired
	case errors.Is(err, session.ErrAAL2Required):
		return errCodeRequired
	case errors.Is(err, session.ErrBadCredentials):
		return errBadCredentials
	case errors.Is(err, session.ErrEmailTaken):
		return errEmailTaken
	case errors.Is(err, session.ErrBadResetToken):
		return errBadResetToken
	case errors.Is(err, session.ErrBadVerificationCode):
		return errBadVerificationCode
	case errors.Is(err, session.ErrAlreadyVerified):
		return errAlreadyVerified
	case errors.Is(err, session.ErrEmailNotVerified):
		return errEmailNotVerified
	case errors.Is(err, session.ErrSamePassword):
		return errSamePassword
	case errors.Is(err, session.ErrSameEmail):
		return errSameEmail
	case errors.Is(err, session.ErrBadEmailChangeToken):
		return errBadEmailChangeToken
	case errors.Is(err, session.ErrLastAdmin):
		return errLastAdmin
	case errors.Is(err, session.ErrInvalid):
		return errBadToken
	case errors.Is(err, session.ErrNotFound):
		return errNotFound
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away: nobody reads this answer, and it is not our
		// fault. 499 (nginx's "client closed request") keeps it out of 5xx
		// alerts.
		return errClientGone
	case errors.Is(err, password.ErrBusy):
		var busy *password.BusyError
		if errors.As(err, &busy) && busy.RetryAfter > 0 {
			e := *errBusy
			e.retryAfter = busy.RetryAfter
			return &e
		}
		return errBusy
	case errors.Is(err, db.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		log.LogAttrs(r.Context(), slog.LevelWarn, "database unavailable", slog.String("error", err.Error()))
		return errUnavailable
	}
	log.LogAttrs(r.Context(), slog.LevelError, "internal error", slog.String("error", err.Error()))
	return errInternal
}

// writeError answers with err as apiErrorOf maps it.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	e := apiErrorOf(r, log, err)
	h := w.Header()
	switch e.status {
	case http.StatusBadRequest:
		if e == errTwoCredentials {
			h.Set("WWW-Authenticate", `Bearer realm="authd", error="invalid_request"`)
		}
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
		held, full := pace(r, e.retryAfter) // a client that ignores it waits here
		h.Set("Retry-After", retryAfterHeader(e.retryAfter, held))
		if full { // not held: the next refusal costs a new connection
			h.Set("Connection", "close")
		}
	}
	status := "fail"
	if e.status >= 500 {
		status = "error"
	}
	encode(w, e.status, envelope{Status: status, Message: e.message, Code: e.code})
}

// retryAfterHeader is the Retry-After of a refusal whose wait is after and
// that was held for held: what remains, in whole seconds rounded up, at
// least 1, so that a client that waited here does not wait twice.
func retryAfterHeader(after, held time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil((after - held).Seconds()))))
}

// handle adapts a handler that returns its error instead of answering it:
// a non-nil error is answered by writeError. A handler returns an error
// only before it has written anything of its answer but headers.
func handle(log *slog.Logger, h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, r, log, err)
		}
	})
}
