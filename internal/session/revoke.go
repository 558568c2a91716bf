package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/reqlog"
	"github.com/authd/authd/internal/token"
)

// Reason says why sessions ended. It is both the text stored in
// sessions.revoked_reason and the reason label of
// authd_sessions_revoked_total.
type Reason string

const (
	ReasonLogoutCurrent  Reason = "logout_current"   // logout of this session
	ReasonLogoutOthers   Reason = "logout_others"    // logout?scope=others
	ReasonLogoutAll      Reason = "logout_all"       // logout?scope=all
	ReasonRevokedByUser  Reason = "revoked_by_user"  // DELETE /api/users/me/sessions/{id}
	ReasonReuse          Reason = "reuse_detected"   // a rotated refresh token was replayed
	ReasonPasswordReset  Reason = "password_reset"   // every session, at a password reset
	ReasonPasswordChange Reason = "password_changed" // every other session, at a password change
	ReasonAccountDeleted Reason = "account_deleted"  // every session, as the account goes
)

// Scope is which of a user's sessions a logout ends.
type Scope int

const (
	ScopeCurrent Scope = iota // the caller's session
	ScopeOthers               // every other session of the user
	ScopeAll                  // every session of the user
)

func (sc Scope) String() string {
	switch sc {
	case ScopeOthers:
		return "others"
	case ScopeAll:
		return "all"
	}
	return "current"
}

// nullUUID is id, or NULL for uuid.Nil.
func nullUUID(id uuid.UUID) uuid.NullUUID { return uuid.NullUUID{UUID: id, Valid: id != uuid.Nil} }

// revoke ends one session of user and records it, in a transaction.
func (s *Service) revoke(ctx context.Context, user, session uuid.UUID, why Reason) (int64, error) {
	var ids []uuid.UUID
	err := s.tx(ctx, func(q *db.Queries) error {
		var err error
		ids, err = q.RevokeSession(ctx, db.RevokeSessionParams{ID: session, UserID: user, Now: s.now(), Reason: string(why)})
		if err != nil {
			return fmt.Errorf("revoke session: %w", err)
		}
		return s.recordRevoked(ctx, q, user, ids, why)
	})
	if err != nil {
		return 0, err
	}
	s.metrics.SessionsRevoked(string(why), int64(len(ids)))
	return int64(len(ids)), nil
}

// revokeAll ends every session of user but except (uuid.Nil: none), in a
// transaction (endSessions).
func (s *Service) revokeAll(ctx context.Context, user, except uuid.UUID, why Reason) error {
	var n int64
	err := s.tx(ctx, func(q *db.Queries) (err error) {
		n, err = s.endSessions(ctx, q, user, except, why)
		return err
	})
	if err != nil {
		return err
	}
	s.metrics.SessionsRevoked(string(why), n)
	return nil
}

// Revoke ends one of user's own sessions. Another user's session, an
// unknown one and an already revoked one are all ErrNotFound; one that
// idled out or passed its lifetime is still revoked (it stays a row of the
// user's until the purge deletes it).
func (s *Service) Revoke(ctx context.Context, user, session uuid.UUID) error {
	n, err := s.revoke(ctx, user, session, ReasonRevokedByUser)
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "session revoked", reqlog.SessionRevoked.Attr(), slog.String("user_id", user.String()),
		slog.String("session_id", session.String()), slog.String("reason", string(ReasonRevokedByUser)))
	return nil
}

// Logout ends the caller's session, named by a validly signed access
// token or else refresh token, and with scope others or all the user's
// other sessions. Without any validly signed token it does nothing
// (logging out twice is not an error), and for the caller's own session a
// signature is enough. Ending other sessions takes a live one: an access
// token of an active session, or the current refresh token (or the one
// before it, within the grace window); a token of a session that has ended
// is ErrInvalid and ends nothing, so a thief's revoked copy cannot log its
// owner out everywhere.
func (s *Service) Logout(ctx context.Context, access, refresh string, scope Scope) error {
	user, session, ok := s.sessionOf(access, refresh)
	if !ok {
		return nil
	}
	if scope != ScopeCurrent {
		var err error
		if user, session, ok, err = s.liveSession(ctx, access, refresh); err != nil {
			return err
		}
		if !ok {
			return ErrInvalid
		}
	}
	return s.logout(ctx, user, session, scope)
}

// logout ends the sessions scope names, as seen from session.
func (s *Service) logout(ctx context.Context, user, session uuid.UUID, scope Scope) error {
	var err error
	switch scope {
	case ScopeAll:
		err = s.revokeAll(ctx, user, uuid.Nil, ReasonLogoutAll)
	case ScopeOthers:
		err = s.revokeAll(ctx, user, session, ReasonLogoutOthers)
	default:
		_, err = s.revoke(ctx, user, session, ReasonLogoutCurrent)
	}
	if err != nil {
		return err
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "logout", reqlog.SessionRevoked.Attr(), slog.String("user_id", user.String()),
		slog.String("session_id", session.String()), slog.String("scope", scope.String()))
	return nil
}

// liveSession names the active session of an access token, else the
// session whose current refresh token (or previous one, within the grace
// window) refresh is.
func (s *Service) liveSession(ctx context.Context, access, refresh string) (user, session uuid.UUID, ok bool, err error) {
	if access != "" {
		if a, err := s.Authenticate(ctx, access); err == nil {
			return a.User.ID, a.Session, true, nil
		} else if !errors.Is(err, ErrInvalid) {
			return uuid.Nil, uuid.Nil, false, err
		}
	}
	if refresh == "" {
		return uuid.Nil, uuid.Nil, false, nil
	}
	c, err := s.tokens.Verify(token.Refresh, refresh)
	if err != nil {
		return uuid.Nil, uuid.Nil, false, nil
	}
	sess, err := s.q.GetSession(ctx, c.Session)
	switch {
	case errors.Is(err, db.ErrNotFound):
		return uuid.Nil, uuid.Nil, false, nil
	case err != nil:
		return uuid.Nil, uuid.Nil, false, fmt.Errorf("get session: %w", err)
	}
	now := s.now()
	if sess.UserID != c.Subject || !active(sess, now) {
		return uuid.Nil, uuid.Nil, false, nil
	}
	if !bytes.Equal(sess.CurrentHash, hashID(c.ID)) && !s.inGrace(sess, c.ID, now) {
		return uuid.Nil, uuid.Nil, false, nil
	}
	return sess.UserID, sess.ID, true, nil
}

// sessionOf names the session of a valid access token, else of a valid
// refresh token.
func (s *Service) sessionOf(access, refresh string) (user, session uuid.UUID, ok bool) {
	if access != "" {
		if c, err := s.tokens.Verify(token.Access, access); err == nil {
			return c.Subject, c.Session, true
		}
	}
	if refresh != "" {
		if c, err := s.tokens.Verify(token.Refresh, refresh); err == nil {
			return c.Subject, c.Session, true
		}
	}
	return uuid.Nil, uuid.Nil, false
}
