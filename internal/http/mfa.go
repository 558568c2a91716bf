package http

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/session"
)

// authd's own second-factor routes (the tutorial's are in otp.go). The
// rules (recent authentication, aal 2, the throttles, one use per code)
// are session's; these decode, call and encode.

// ticketEnvelope is the login answer for an account with a second factor:
// no tokens, a login ticket (also in the ticket cookie) for
// POST /api/auth/mfa/login or the tutorial's otp/validate.
type ticketEnvelope struct {
	Status      string     `json:"status"`
	MFARequired bool       `json:"mfa_required"`
	User        *loginUser `json:"user"`
	Ticket      string     `json:"ticket"`
	ExpiresAt   time.Time  `json:"expires_at"`
}

// writeTicket answers a right password of an account with a second
// factor: the ticket in the body and in its cookie, and no session cookie.
func writeTicket(w http.ResponseWriter, jar cookies, m *session.MFARequired) {
	jar.setTicket(w, m.Ticket, m.ExpiresAt)
	encode(w, http.StatusOK, ticketEnvelope{Status: "success", MFARequired: true, User: newLoginUser(m.User),
		Ticket: m.Ticket, ExpiresAt: m.ExpiresAt.UTC()})
}

// ticketFrom is the login ticket of r: given in the body, else its cookie.
func ticketFrom(r *http.Request, given string) string {
	if given != "" {
		return given
	}
	if c, err := r.Cookie(ticketCookie); err == nil {
		return c.Value
	}
	return ""
}

// loginMFA is the second step of a login: the ticket and a code give a
// session, and the ticket cookie is cleared (a dead ticket clears it too).
func loginMFA(w http.ResponseWriter, r *http.Request, s *session.Service, jar cookies, c session.Client, ticket, code string) (session.Tokens, db.User, error) {
	if ticket == "" {
		return session.Tokens{}, db.User{}, session.ErrTicketInvalid
	}
	if code == "" {
		return session.Tokens{}, db.User{}, badRequest("code is required")
	}
	toks, user, err := s.LoginMFA(r.Context(), ticket, code, c)
	if err == nil || errors.Is(err, session.ErrTicketInvalid) {
		jar.clearTicket(w)
	}
	return toks, user, err
}

// handleMFALogin is POST /api/auth/mfa/login: {ticket, code} (the ticket
// may come from its cookie instead) answers as a login does.
func handleMFALogin(log *slog.Logger, s *session.Service, jar cookies, addr func(*http.Request) string) http.Handler {
	type request struct {
		Ticket string `json:"ticket"`
		Code   string `json:"code"`
	}
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		c := session.Client{UserAgent: r.UserAgent(), Addr: addr(r), Device: device(r)}
		toks, user, err := loginMFA(w, r, s, jar, c, ticketFrom(r, req.Ticket), req.Code)
		if err != nil {
			return err
		}
		writeLogin(w, jar, toks, user)
		return nil
	})
}

// mfaStatus is what GET /api/auth/mfa answers.
type mfaStatus struct {
	Enabled       bool `json:"enabled"`
	Pending       bool `json:"pending"`
	RecoveryCodes int  `json:"recovery_codes"` // unused ones left
	Passkeys      int  `json:"passkeys"`       // registered passkeys (two-factor is on with one)
	AAL           int  `json:"aal"`            // of this session
}

func handleMFAStatus(log *slog.Logger, s *session.Service) http.Handler {
	type response struct {
		Status string    `json:"status"`
		MFA    mfaStatus `json:"mfa"`
	}
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		a := authFrom(r.Context())
		st, err := s.MFAStatus(r.Context(), a.User.ID)
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, response{Status: "success", MFA: mfaStatus{
			Enabled: st.Enabled, Pending: st.Pending, RecoveryCodes: st.RecoveryCodes, Passkeys: st.Passkeys, AAL: a.AAL,
		}})
		return nil
	})
}

// enrolment is the answer of an enrolment: the secret, shown once, and
// its otpauth:// URI for a QR code the client draws. The names are the
// tutorial's (otp/generate).
type enrolment struct {
	Status     string `json:"status"`
	Base32     string `json:"base32"`
	OTPAuthURL string `json:"otpauth_url"`
}

func handleTOTPEnrol(log *slog.Logger, s *session.Service) http.Handler {
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		e, err := s.EnrolTOTP(r.Context(), authFrom(r.Context()))
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, enrolment{Status: "success", Base32: e.Secret, OTPAuthURL: e.URI})
		return nil
	})
}

// recoveryCodes is an answer with a new set of recovery codes, shown once.
type recoveryCodes struct {
	Status        string   `json:"status"`
	RecoveryCodes []string `json:"recovery_codes"`
}

func handleTOTPActivate(log *slog.Logger, s *session.Service) http.Handler {
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
		codes, err := s.ActivateTOTP(r.Context(), authFrom(r.Context()), req.Code)
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, recoveryCodes{Status: "success", RecoveryCodes: codes})
		return nil
	})
}

// handleMFADisable turns the second factor off: with a code, or without
// one from a session at aal 2 that authenticated recently.
func handleMFADisable(log *slog.Logger, s *session.Service) http.Handler {
	type request struct {
		Code string `json:"code"`
	}
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		if err := s.DisableMFA(r.Context(), authFrom(r.Context()), req.Code); err != nil {
			return err
		}
		encode(w, http.StatusOK, statusEnvelope{Status: "success"})
		return nil
	})
}

func handleRecoveryCodes(log *slog.Logger, s *session.Service) http.Handler {
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		codes, err := s.RegenerateRecoveryCodes(r.Context(), authFrom(r.Context()))
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, recoveryCodes{Status: "success", RecoveryCodes: codes})
		return nil
	})
}

// handleReauthenticate refreshes the session's auth_time (step-up) with
// the password or, with code, a second-factor code (which also raises the
// session to aal 2). Exactly one of them.
func handleReauthenticate(log *slog.Logger, s *session.Service) http.Handler {
	type request struct {
		Password string `json:"password"`
		Code     string `json:"code"`
	}
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		if (req.Password == "") == (req.Code == "") {
			return badRequest("send either password or code")
		}
		if err := s.Reauthenticate(r.Context(), authFrom(r.Context()), req.Password, req.Code); err != nil {
			return err
		}
		encode(w, http.StatusOK, statusEnvelope{Status: "success"})
		return nil
	})
}
