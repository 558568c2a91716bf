package http

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/session"
)

func handleMe() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := authFrom(r.Context())
		var out meEnvelope
		out.Status, out.Data.User = "success", meResponse{newUserResponse(a.User), a.User.Verified, a.User.MfaEnabled, a.AAL}
		encode(w, http.StatusOK, out)
	})
}

func handleListSessions(log *slog.Logger, s *session.Service) http.Handler {
	type item struct {
		ID         uuid.UUID `json:"id"`
		CreatedAt  time.Time `json:"created_at"`
		LastUsedAt time.Time `json:"last_used_at"`
		ExpiresAt  time.Time `json:"expires_at"`
		UserAgent  string    `json:"user_agent"`
		ClientAddr string    `json:"client_addr"`
		Current    bool      `json:"current"`
	}
	type data struct {
		Sessions []item `json:"sessions"`
	}
	type response struct {
		Status string `json:"status"`
		Data   data   `json:"data"`
	}
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		a := authFrom(r.Context())
		list, err := s.List(r.Context(), a.User.ID)
		if err != nil {
			return err
		}
		out := make([]item, 0, len(list))
		for _, x := range list {
			out = append(out, item{
				ID: x.ID, CreatedAt: x.CreatedAt.UTC(), LastUsedAt: x.LastUsedAt.UTC(), ExpiresAt: x.ExpiresAt.UTC(),
				UserAgent: x.UserAgent, ClientAddr: x.ClientAddr, Current: x.ID == a.Session,
			})
		}
		encode(w, http.StatusOK, response{Status: "success", Data: data{Sessions: out}})
		return nil
	})
}

// handleDeleteSession ends one of the caller's own sessions. Another user's
// session id, or an unknown one, is 404 alike.
func handleDeleteSession(log *slog.Logger, s *session.Service, jar cookies) http.Handler {
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		a := authFrom(r.Context())
		id, err := uuid.Parse(r.PathValue("id"))
		if err != nil {
			return errNotFound
		}
		if err := s.Revoke(r.Context(), a.User.ID, id); err != nil {
			return err
		}
		if id == a.Session {
			jar.clear(w)
		}
		encode(w, http.StatusOK, statusEnvelope{Status: "success"})
		return nil
	})
}

// handleChangePassword sets a new password for the caller, who proves the
// current one (a wrong one counts as a failed login). Every other session
// ends; this one stays.
func handleChangePassword(log *slog.Logger, s *session.Service) http.Handler {
	type request struct {
		CurrentPassword string `json:"currentPassword"`
		Password        string `json:"password"`
		PasswordConfirm string `json:"passwordConfirm"`
	}
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		if err := s.ChangePassword(r.Context(), authFrom(r.Context()), req.CurrentPassword, req.Password, req.PasswordConfirm); err != nil {
			return err
		}
		encode(w, http.StatusOK, messageEnvelope{Status: "success", Message: msgPasswordReset})
		return nil
	})
}

// handleChangeEmail asks to move the caller's account to another address:
// always 202 for a well-formed request with the right password, whether
// the address is free, taken or throttled (see
// session.Service.RequestEmailChange).
func handleChangeEmail(log *slog.Logger, s *session.Service) http.Handler {
	type request struct {
		Email           string `json:"email"`
		CurrentPassword string `json:"currentPassword"`
	}
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		if err := s.RequestEmailChange(r.Context(), authFrom(r.Context()), req.Email, req.CurrentPassword); err != nil {
			return err
		}
		encode(w, http.StatusAccepted, messageEnvelope{Status: "success", Message: msgCheckNewAddress})
		return nil
	})
}

// handleDeleteMe deletes the caller's account for good and clears the
// cookies. Registered only with AccountSelfDelete.
func handleDeleteMe(log *slog.Logger, s *session.Service, jar cookies) http.Handler {
	type request struct {
		CurrentPassword string `json:"currentPassword"`
	}
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		if err := s.DeleteAccount(r.Context(), authFrom(r.Context()), req.CurrentPassword); err != nil {
			return err
		}
		jar.clear(w)
		encode(w, http.StatusOK, statusEnvelope{Status: "success"})
		return nil
	})
}
