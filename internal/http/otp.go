package http

import (
	"log/slog"
	"net/http"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/session"
)

// The tutorial's 2FA routes (its part "Two-factor authentication in Go"),
// with its bodies and answers, over the same session methods as authd's
// own MFA routes. Unlike the tutorial they do not trust the body's
// user_id: generate, verify and disable are the session's user's, and
// validate is the login ticket's (its cookie, or "ticket" in the body); a
// user_id that names anyone else is refused, with one answer whatever it
// names.

// ownUser refuses a user_id that is not want.
func ownUser(want uuid.UUID, given string) error {
	if given == "" {
		return badRequest("user_id is required")
	}
	if id, err := uuid.Parse(given); err != nil || id != want {
		return errNotYourUser
	}
	return nil
}

func handleOTPGenerate(log *slog.Logger, s *session.Service) http.Handler {
	type request struct {
		UserID string `json:"user_id"`
		Email  string `json:"email"` // the tutorial's client sends it; the account's address is used
	}
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		a := authFrom(r.Context())
		if err := ownUser(a.User.ID, req.UserID); err != nil {
			return err
		}
		e, err := s.EnrolTOTP(r.Context(), a)
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, enrolment{Status: "success", Base32: e.Secret, OTPAuthURL: e.URI})
		return nil
	})
}

// handleOTPVerify activates the enrolled factor; the answer adds the
// recovery codes (shown once) to the tutorial's.
func handleOTPVerify(log *slog.Logger, s *session.Service) http.Handler {
	type request struct {
		UserID string `json:"user_id"`
		Token  string `json:"token"`
	}
	type response struct {
		Status        string     `json:"status"`
		OTPVerified   bool       `json:"otp_verified"`
		User          *loginUser `json:"user"`
		RecoveryCodes []string   `json:"recovery_codes"`
	}
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		a := authFrom(r.Context())
		if err := ownUser(a.User.ID, req.UserID); err != nil {
			return err
		}
		if req.Token == "" {
			return session.ErrBadCode
		}
		codes, err := s.ActivateTOTP(r.Context(), a, req.Token)
		if err != nil {
			return err
		}
		u := newLoginUser(a.User)
		u.OTPEnabled = true
		encode(w, http.StatusOK, response{Status: "success", OTPVerified: true, User: u, RecoveryCodes: codes})
		return nil
	})
}

// handleOTPValidate is the second step of a login, by the ticket: unlike
// the tutorial's, it starts the session (the login answer's cookies and
// access token).
func handleOTPValidate(log *slog.Logger, s *session.Service, jar cookies, addr func(*http.Request) string) http.Handler {
	type request struct {
		UserID string `json:"user_id"`
		Token  string `json:"token"`
		Ticket string `json:"ticket"` // for clients without the cookie
	}
	type response struct {
		Status      string     `json:"status"`
		OTPValid    bool       `json:"otp_valid"`
		AccessToken string     `json:"access_token"`
		User        *loginUser `json:"user"`
	}
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		ticket := ticketFrom(r, req.Ticket)
		if ticket == "" {
			return session.ErrTicketInvalid
		}
		owner, err := s.TicketUser(r.Context(), ticket)
		if err != nil {
			return err
		}
		if err := ownUser(owner, req.UserID); err != nil {
			return err
		}
		c := session.Client{UserAgent: r.UserAgent(), Addr: addr(r), Device: device(r)}
		toks, user, err := loginMFA(w, r, s, jar, c, ticket, req.Token)
		if err != nil {
			return err
		}
		jar.set(w, toks)
		encode(w, http.StatusOK, response{Status: "success", OTPValid: true, AccessToken: toks.Access, User: newLoginUser(user)})
		return nil
	})
}

// handleOTPDisable turns the factor off. Without a token it needs a
// session that passed the second factor recently (403 code_required or
// reauth_required otherwise); with one (an authd addition) the code.
func handleOTPDisable(log *slog.Logger, s *session.Service) http.Handler {
	type request struct {
		UserID string `json:"user_id"`
		Token  string `json:"token"`
	}
	type response struct {
		Status      string     `json:"status"`
		OTPDisabled bool       `json:"otp_disabled"`
		User        *loginUser `json:"user"`
	}
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		a := authFrom(r.Context())
		if err := ownUser(a.User.ID, req.UserID); err != nil {
			return err
		}
		if err := s.DisableMFA(r.Context(), a, req.Token); err != nil {
			return err
		}
		u := newLoginUser(a.User)
		u.OTPEnabled = false
		encode(w, http.StatusOK, response{Status: "success", OTPDisabled: true, User: u})
		return nil
	})
}
