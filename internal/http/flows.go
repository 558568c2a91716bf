package http

import (
	"log/slog"
	"net/http"

	"github.com/authd/authd/internal/session"
)

// The tutorial's messages (parts 3 and 4) and ours for the new routes.
const (
	msgForgotPassword     = "You will receive a reset email if user with that email exist"
	msgPasswordReset      = "Password data updated successfully"
	msgVerificationSent   = "We sent an email with a verification code to " // + the address
	msgEmailVerified      = "Email verified successfully"
	msgVerificationResent = "If an unverified account exists for that email, a new verification email is on its way"
	msgCheckNewAddress    = "Check your new address to confirm the change"
	msgEmailChanged       = "Email address changed successfully"
	msgRegistered         = "Registered successfully, please login" // the 2FA part's
)

// handleForgotPassword queues a reset link. Every well-formed address gets
// the same answer after the same work, whether it has an account, is
// verified, or is within its mail allowance: only a malformed body or
// address is an error.
func handleForgotPassword(log *slog.Logger, s *session.Service) http.Handler {
	type request struct {
		Email string `json:"email"`
	}
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		if err := s.ForgotPassword(r.Context(), req.Email); err != nil {
			return err
		}
		encode(w, http.StatusOK, messageEnvelope{Status: "success", Message: msgForgotPassword})
		return nil
	})
}

// handleResetPassword is the tutorial's PATCH /api/auth/resetpassword/{token}.
func handleResetPassword(log *slog.Logger, s *session.Service, jar cookies) http.Handler {
	type request struct {
		Password        string `json:"password"`
		PasswordConfirm string `json:"passwordConfirm"`
	}
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		return resetPassword(w, r, s, jar, r.PathValue("token"), req.Password, req.PasswordConfirm)
	})
}

// handleResetPasswordBody is POST /api/auth/reset-password: the same with
// the token in the body, out of URLs and their logs.
func handleResetPasswordBody(log *slog.Logger, s *session.Service, jar cookies) http.Handler {
	type request struct {
		Token           string `json:"token"`
		Password        string `json:"password"`
		PasswordConfirm string `json:"passwordConfirm"`
	}
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		if req.Token == "" {
			return badRequest("token is required")
		}
		return resetPassword(w, r, s, jar, req.Token, req.Password, req.PasswordConfirm)
	})
}

// resetPassword is the rest of both reset routes: the reset, which ends
// every session; the caller's cookies are cleared (no login follows, as in
// the tutorial).
func resetPassword(w http.ResponseWriter, r *http.Request, s *session.Service, jar cookies, token, pw, confirm string) error {
	if err := s.ResetPassword(r.Context(), token, pw, confirm); err != nil {
		return err
	}
	jar.clear(w)
	encode(w, http.StatusOK, messageEnvelope{Status: "success", Message: msgPasswordReset})
	return nil
}

// handleVerifyEmail is the tutorial's GET /api/auth/verifyemail/{code}.
// The cross-site guard keeps other sites' images and links from using it.
func handleVerifyEmail(log *slog.Logger, s *session.Service) http.Handler {
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		return verifyEmail(w, r, s, r.PathValue("code"))
	})
}

// handleVerifyEmailBody is POST /api/auth/verify-email: the same with the
// code in the body, out of URLs and their logs, and safe from link
// scanners (a GET link is followed by them).
func handleVerifyEmailBody(log *slog.Logger, s *session.Service) http.Handler {
	type request struct {
		Code string `json:"code"`
	}
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		if req.Code == "" {
			return badRequest("code is required")
		}
		return verifyEmail(w, r, s, req.Code)
	})
}

func verifyEmail(w http.ResponseWriter, r *http.Request, s *session.Service, code string) error {
	if err := s.VerifyEmail(r.Context(), code); err != nil {
		return err
	}
	encode(w, http.StatusOK, messageEnvelope{Status: "success", Message: msgEmailVerified})
	return nil
}

// handleResendVerification queues a new verification mail. Like forgot
// password, every well-formed address gets the same answer.
func handleResendVerification(log *slog.Logger, s *session.Service) http.Handler {
	type request struct {
		Email string `json:"email"`
	}
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		if err := s.ResendVerification(r.Context(), req.Email); err != nil {
			return err
		}
		encode(w, http.StatusOK, messageEnvelope{Status: "success", Message: msgVerificationResent})
		return nil
	})
}

// handleConfirmEmailChange moves an account to the address its email-change
// link was sent to. No login is needed: the token is bound to the account.
func handleConfirmEmailChange(log *slog.Logger, s *session.Service) http.Handler {
	type request struct {
		Token string `json:"token"`
	}
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		if req.Token == "" {
			return badRequest("token is required")
		}
		if err := s.ConfirmEmailChange(r.Context(), req.Token); err != nil {
			return err
		}
		encode(w, http.StatusOK, messageEnvelope{Status: "success", Message: msgEmailChanged})
		return nil
	})
}
