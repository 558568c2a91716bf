package http

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/session"
)

// Passkeys (WebAuthn). Each ceremony is two calls: its options (for
// navigator.credentials.create or get, {"publicKey": ...} in `options`)
// and its finish with the browser's PublicKeyCredential as JSON in
// `credential`. The rules are session's; these decode, call and encode.

var (
	errPasskeysUnavailable = &apiError{status: http.StatusNotImplemented, code: "passkeys_unavailable", message: "Passkeys are not configured on this server"}
	errPasskeyMalformed    = &apiError{status: http.StatusBadRequest, code: "invalid_passkey_response", message: "credential is not a WebAuthn response"}
	errPasskeyRefused      = &apiError{status: http.StatusBadRequest, code: "passkey_refused", message: "The passkey was not accepted; please start again"}
	errPasskeyExists       = &apiError{status: http.StatusConflict, code: "passkey_exists", message: "This passkey is registered already"}
	errLastFactor          = &apiError{status: http.StatusConflict, code: "last_factor", message: "The last second factor cannot be removed; turn two-factor authentication off instead"}
	errPasskeyName         = &apiError{status: http.StatusBadRequest, code: "invalid_request", message: "name must be 1 to 64 characters"}
)

// passkeyError maps the passkey errors of session to the client's; the
// others go on to apiErrorOf.
func passkeyError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, session.ErrPasskeysUnavailable):
		return errPasskeysUnavailable
	case errors.Is(err, session.ErrPasskeyMalformed):
		return errPasskeyMalformed
	case errors.Is(err, session.ErrPasskeyRefused):
		return errPasskeyRefused
	case errors.Is(err, session.ErrPasskeyExists):
		return errPasskeyExists
	case errors.Is(err, session.ErrPasskeyNotFound):
		return errNotFound
	case errors.Is(err, session.ErrLastFactor):
		return errLastFactor
	case errors.Is(err, session.ErrPasskeyName):
		return errPasskeyName
	}
	return err
}

// optionsEnvelope is a ceremony's options.
type optionsEnvelope struct {
	Status  string          `json:"status"`
	Options json.RawMessage `json:"options"`
}

func writeOptions(w http.ResponseWriter, opts json.RawMessage, err error) error {
	if err != nil {
		return passkeyError(err)
	}
	encode(w, http.StatusOK, optionsEnvelope{Status: "success", Options: opts})
	return nil
}

// credentialOf is the credential of a finish, required.
func credentialOf(c json.RawMessage) ([]byte, error) {
	if len(c) == 0 || string(c) == "null" {
		return nil, badRequest("credential is required")
	}
	return c, nil
}

// passkeyView is a passkey as its owner sees it.
type passkeyView struct {
	ID                 string     `json:"id"`
	Name               string     `json:"name"`
	CreatedAt          time.Time  `json:"created_at"`
	LastUsedAt         *time.Time `json:"last_used_at"`
	BackupEligible     bool       `json:"backup_eligible"`
	BackupState        bool       `json:"backup_state"`
	Transports         []string   `json:"transports"`
	CounterRegressions int        `json:"counter_regressions"`
}

func newPasskeyView(p session.Passkey) passkeyView {
	v := passkeyView{ID: p.ID.String(), Name: p.Name, CreatedAt: p.CreatedAt.UTC(), BackupEligible: p.BackupEligible,
		BackupState: p.BackupState, Transports: p.Transports, CounterRegressions: p.CounterRegressions}
	if p.LastUsedAt != nil {
		t := p.LastUsedAt.UTC()
		v.LastUsedAt = &t
	}
	if v.Transports == nil {
		v.Transports = []string{}
	}
	return v
}

func handlePasskeyRegisterOptions(log *slog.Logger, s *session.Service) http.Handler {
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		opts, err := s.PasskeyRegistrationOptions(r.Context(), authFrom(r.Context()))
		return writeOptions(w, opts, err)
	})
}

func handlePasskeyRegister(log *slog.Logger, s *session.Service) http.Handler {
	type request struct {
		Name       string          `json:"name"`
		Credential json.RawMessage `json:"credential"`
	}
	type response struct {
		Status        string      `json:"status"`
		Passkey       passkeyView `json:"passkey"`
		RecoveryCodes []string    `json:"recovery_codes,omitempty"` // when this passkey turned two-factor on
	}
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		cred, err := credentialOf(req.Credential)
		if err != nil {
			return err
		}
		added, err := s.RegisterPasskey(r.Context(), authFrom(r.Context()), req.Name, cred)
		if err != nil {
			return passkeyError(err)
		}
		encode(w, http.StatusCreated, response{Status: "success", Passkey: newPasskeyView(added.Passkey), RecoveryCodes: added.RecoveryCodes})
		return nil
	})
}

func handleListPasskeys(log *slog.Logger, s *session.Service) http.Handler {
	type response struct {
		Status   string        `json:"status"`
		Passkeys []passkeyView `json:"passkeys"`
	}
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		ps, err := s.Passkeys(r.Context(), authFrom(r.Context()).User.ID)
		if err != nil {
			return err
		}
		out := make([]passkeyView, len(ps))
		for i, p := range ps {
			out[i] = newPasskeyView(p)
		}
		encode(w, http.StatusOK, response{Status: "success", Passkeys: out})
		return nil
	})
}

func handleRenamePasskey(log *slog.Logger, s *session.Service) http.Handler {
	type request struct {
		Name string `json:"name"`
	}
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		id, err := uuid.Parse(r.PathValue("id"))
		if err != nil {
			return errNotFound
		}
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		if req.Name == "" {
			return badRequest("name is required")
		}
		if err := s.RenamePasskey(r.Context(), authFrom(r.Context()), id, req.Name); err != nil {
			return passkeyError(err)
		}
		encode(w, http.StatusOK, statusEnvelope{Status: "success"})
		return nil
	})
}

func handleDeletePasskey(log *slog.Logger, s *session.Service) http.Handler {
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		id, err := uuid.Parse(r.PathValue("id"))
		if err != nil {
			return errNotFound
		}
		if err := s.DeletePasskey(r.Context(), authFrom(r.Context()), id); err != nil {
			return passkeyError(err)
		}
		encode(w, http.StatusOK, statusEnvelope{Status: "success"})
		return nil
	})
}

func handlePasskeyLoginOptions(log *slog.Logger, s *session.Service) http.Handler {
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		opts, err := s.PasskeyLoginOptions(r.Context())
		return writeOptions(w, opts, err)
	})
}

// handlePasskeyLogin is a passwordless login: its answer is exactly a
// password login's (cookies and tokens).
func handlePasskeyLogin(log *slog.Logger, s *session.Service, jar cookies, addr func(*http.Request) string) http.Handler {
	type request struct {
		Credential json.RawMessage `json:"credential"`
	}
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		cred, err := credentialOf(req.Credential)
		if err != nil {
			return err
		}
		toks, user, err := s.LoginPasskey(r.Context(), cred, session.Client{UserAgent: r.UserAgent(), Addr: addr(r), Device: device(r)})
		if err != nil {
			return passkeyError(err)
		}
		writeLogin(w, jar, toks, user)
		return nil
	})
}

func handlePasskeyMFAOptions(log *slog.Logger, s *session.Service) http.Handler {
	type request struct {
		Ticket string `json:"ticket"`
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
		opts, err := s.PasskeyMFAOptions(r.Context(), ticket)
		return writeOptions(w, opts, err)
	})
}

// handlePasskeyMFA is the second step of a login with a passkey: the
// ticket (body or cookie) and the credential answer as a login does.
func handlePasskeyMFA(log *slog.Logger, s *session.Service, jar cookies, addr func(*http.Request) string) http.Handler {
	type request struct {
		Ticket     string          `json:"ticket"`
		Credential json.RawMessage `json:"credential"`
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
		cred, err := credentialOf(req.Credential)
		if err != nil {
			return err
		}
		toks, user, err := s.LoginPasskeyMFA(r.Context(), ticket, cred, session.Client{UserAgent: r.UserAgent(), Addr: addr(r), Device: device(r)})
		if err == nil || errors.Is(err, session.ErrTicketInvalid) {
			jar.clearTicket(w)
		}
		if err != nil {
			return passkeyError(err)
		}
		writeLogin(w, jar, toks, user)
		return nil
	})
}

func handlePasskeyReauthOptions(log *slog.Logger, s *session.Service) http.Handler {
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		opts, err := s.PasskeyReauthOptions(r.Context(), authFrom(r.Context()))
		return writeOptions(w, opts, err)
	})
}

// handlePasskeyReauth is step-up with a passkey: the session's auth_time
// is refreshed and it is raised to aal 2.
func handlePasskeyReauth(log *slog.Logger, s *session.Service) http.Handler {
	type request struct {
		Credential json.RawMessage `json:"credential"`
	}
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		cred, err := credentialOf(req.Credential)
		if err != nil {
			return err
		}
		if err := s.ReauthenticatePasskey(r.Context(), authFrom(r.Context()), cred); err != nil {
			return passkeyError(err)
		}
		encode(w, http.StatusOK, statusEnvelope{Status: "success"})
		return nil
	})
}
