package http

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/authd/authd/internal/session"
)

func handleRegister(log *slog.Logger, s *session.Service) http.Handler {
	type request struct {
		Name            string `json:"name"`
		Email           string `json:"email"`
		Password        string `json:"password"`
		PasswordConfirm string `json:"passwordConfirm"`
		Photo           string `json:"photo"`
	}
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		su, err := s.Register(r.Context(), session.Registration{
			Name: req.Name, Email: req.Email, Password: req.Password, PasswordConfirm: req.PasswordConfirm, Photo: req.Photo,
		})
		if err != nil {
			return err
		}
		switch {
		case su.Hidden:
			encode(w, http.StatusCreated, messageEnvelope{Status: "success", Message: msgVerificationSent + su.Email})
		case su.VerifyMail:
			encode(w, http.StatusCreated, signupEnvelope{Status: "success", Message: msgVerificationSent + su.Email,
				Data: userData{newUserResponse(su.User)}})
		default:
			encode(w, http.StatusCreated, signupEnvelope{Status: "success", Message: msgRegistered,
				Data: userData{newUserResponse(su.User)}})
		}
		return nil
	})
}

func handleLogin(log *slog.Logger, s *session.Service, jar cookies, addr func(*http.Request) string) http.Handler {
	type request struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		client := session.Client{UserAgent: r.UserAgent(), Addr: addr(r), Device: device(r)}
		toks, user, err := s.Login(r.Context(), req.Email, req.Password, client)
		var mfa *session.MFARequired
		switch {
		case errors.As(err, &mfa):
			user = mfa.User
			writeTicket(w, jar, mfa)
		case err != nil:
			return err
		default:
			writeLogin(w, jar, toks, user)
		}
		if s.NeedsRehash(user) {
			// Send the answer first: the upgrade costs a full hash.
			http.NewResponseController(w).Flush()
			s.UpgradeHash(r.Context(), user, req.Password)
		}
		return nil
	})
}

// handleRefresh exchanges the refresh cookie for new tokens (see
// session.Service.Rotate). A replayed token has ended the session: its
// cookies are cleared too.
func handleRefresh(log *slog.Logger, s *session.Service, jar cookies) http.Handler {
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		c, err := r.Cookie(refreshCookie)
		if err != nil || c.Value == "" {
			return errNoRefresh
		}
		toks, err := s.Rotate(r.Context(), c.Value)
		if errors.Is(err, session.ErrInvalid) {
			if errors.Is(err, session.ErrReused) {
				jar.clear(w)
			}
			err = errNoRefresh
		}
		if err != nil {
			return err
		}
		writeTokens(w, jar, toks)
		return nil
	})
}

// handleLogout ends the caller's session, named by the access token or else
// the refresh cookie, and clears the cookies. ?scope=all ends every session
// of the user, ?scope=others every one but this. Without any valid token it
// still clears the cookies: logging out twice is not an error.
func handleLogout(log *slog.Logger, s *session.Service, jar cookies) http.Handler {
	scopes := map[string]session.Scope{"": session.ScopeCurrent, "current": session.ScopeCurrent,
		"others": session.ScopeOthers, "all": session.ScopeAll}
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		scope, ok := scopes[r.URL.Query().Get("scope")]
		if !ok {
			return badRequest("scope must be current, others or all")
		}
		// A malformed or missing access token is no error here: the
		// refresh cookie may still name the session. Two are.
		access, err := accessToken(r)
		if err == errTwoCredentials {
			return err
		}
		var refresh string
		if c, err := r.Cookie(refreshCookie); err == nil {
			refresh = c.Value
		}
		if err := s.Logout(r.Context(), access, refresh, scope); err != nil {
			return err
		}
		if scope != session.ScopeOthers {
			jar.clear(w)
		}
		encode(w, http.StatusOK, statusEnvelope{Status: "success"})
		return nil
	})
}
