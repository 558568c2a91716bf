package http

import (
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
)

func handleMe(d *Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := authFrom(r.Context())
		w.Header().Set("Cache-Control", "no-store")
		encode(w, http.StatusOK, userEnvelope{Status: "success", Data: userData{newUserResponse(a.user)}})
	})
}

func handleListSessions(d *Deps) http.Handler {
	type session struct {
		ID         uuid.UUID `json:"id"`
		CreatedAt  time.Time `json:"created_at"`
		LastUsedAt time.Time `json:"last_used_at"`
		ExpiresAt  time.Time `json:"expires_at"`
		UserAgent  string    `json:"user_agent"`
		ClientAddr string    `json:"client_addr"`
		Current    bool      `json:"current"`
	}
	type data struct {
		Sessions []session `json:"sessions"`
	}
	type response struct {
		Status string `json:"status"`
		Data   data   `json:"data"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := authFrom(r.Context())
		ctx, cancel := d.dbCtx(r.Context())
		defer cancel()
		rows, err := d.Queries.ListUserSessions(ctx, db.ListUserSessionsParams{UserID: a.user.ID, Now: d.Now()})
		if err != nil {
			writeError(w, r, d.Log, fmt.Errorf("list sessions: %w", db.Classify(err)))
			return
		}
		out := make([]session, 0, len(rows))
		for _, s := range rows {
			end := s.ExpiresAt
			if s.IdleExpiresAt.Before(end) {
				end = s.IdleExpiresAt
			}
			out = append(out, session{
				ID: s.ID, CreatedAt: s.CreatedAt.UTC(), LastUsedAt: s.LastUsedAt.UTC(),
				ExpiresAt: end.UTC(),
				UserAgent: s.UserAgent, ClientAddr: s.ClientAddr, Current: s.ID == a.session,
			})
		}
		w.Header().Set("Cache-Control", "no-store")
		encode(w, http.StatusOK, response{Status: "success", Data: data{Sessions: out}})
	})
}

// handleDeleteSession ends one of the caller's own sessions. Another user's
// session id, or an unknown one, is 404 alike.
func handleDeleteSession(d *Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := authFrom(r.Context())
		id, err := uuid.Parse(r.PathValue("id"))
		if err != nil {
			writeError(w, r, d.Log, errNotFound)
			return
		}
		ctx, cancel := d.dbCtx(r.Context())
		defer cancel()
		n, err := d.Queries.RevokeSession(ctx, db.RevokeSessionParams{ID: id, UserID: a.user.ID, Now: d.Now(), Reason: "revoked by user"})
		if err != nil {
			writeError(w, r, d.Log, fmt.Errorf("revoke session: %w", db.Classify(err)))
			return
		}
		if n == 0 {
			writeError(w, r, d.Log, errNotFound)
			return
		}
		d.Metrics.SessionsRevoked("revoked_by_user", n)
		if id == a.session {
			d.clearAuthCookies(w)
		}
		w.Header().Set("Cache-Control", "no-store")
		encode(w, http.StatusOK, statusEnvelope{Status: "success"})
	})
}
