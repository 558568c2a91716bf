package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/reqlog"
	"github.com/authd/authd/internal/token"
)

// issue signs an access token, carrying the session's assurance (aal,
// amr, auth_time), and the refresh token of the session's current
// generation, whose id is gen. A refresh keeps the assurance: it is the
// session's. With Options.RoleClaim the access token carries role too,
// the user's role as the caller read it; "" reads it here (one
// statement).
func (s *Service) issue(ctx context.Context, sess db.Session, gen, role string) (Tokens, error) {
	a := assurance(sess)
	if s.opts.RoleClaim {
		if role == "" {
			r, err := s.q.GetUserRole(ctx, sess.UserID)
			if err != nil {
				return Tokens{}, fmt.Errorf("get user role: %w", err)
			}
			role = r
		}
		a.Role = role
	}
	access, err := s.tokens.AccessWith(sess.UserID, sess.ID, a)
	if err != nil {
		return Tokens{}, fmt.Errorf("sign access token: %w", err)
	}
	refresh, err := s.tokens.Refresh(sess.UserID, sess.ID, sess.Generation, gen, sess.IdleExpiresAt)
	if err != nil {
		return Tokens{}, fmt.Errorf("sign refresh token: %w", err)
	}
	return Tokens{Access: access, Refresh: refresh, SessionEnd: sess.ExpiresAt}, nil
}

// Rotate exchanges a refresh token for new tokens. The token must be the
// session's current generation; the one before it is accepted for
// ReuseGrace after its rotation and answered with the current successor
// (so a client that lost a race gets what the winner got). Any other token
// of the session is a replay: the session is revoked and Rotate returns
// ErrReused. Everything else that fails to rotate is ErrInvalid.
func (s *Service) Rotate(ctx context.Context, refresh string) (Tokens, error) {
	claims, err := s.tokens.Verify(token.Refresh, refresh)
	if err != nil {
		s.metrics.Refresh(metrics.RefreshInvalid)
		return Tokens{}, ErrInvalid
	}
	now := s.now()
	presented := hashID(claims.ID)
	next := nextGenerationID(claims.ID)
	nextHash := hashID(next)
	row, role, err := s.rotateSession(ctx, db.RotateSessionParams{
		ID: claims.Session, PresentedHash: presented, NextHash: nextHash,
		Now: now, IdleExpiresAt: now.Add(s.opts.RefreshTTL),
	})
	if err == nil {
		toks, err := s.issue(ctx, db.Session{
			ID: row.ID, UserID: row.UserID, Generation: row.Generation,
			IdleExpiresAt: row.IdleExpiresAt, ExpiresAt: row.ExpiresAt,
			Aal: row.Aal, Amr: row.Amr, AuthTime: row.AuthTime,
		}, next, role)
		if err != nil {
			return Tokens{}, err
		}
		s.metrics.Refresh(metrics.RefreshRotated)
		return toks, nil
	}
	if !errors.Is(err, db.ErrNotFound) {
		return Tokens{}, fmt.Errorf("rotate session: %w", err)
	}
	// Not rotated: find out why.
	sess, err := s.q.GetSession(ctx, claims.Session)
	switch {
	case errors.Is(err, db.ErrNotFound):
		s.metrics.Refresh(metrics.RefreshInvalid)
		return Tokens{}, ErrInvalid
	case err != nil:
		return Tokens{}, fmt.Errorf("get session: %w", err)
	case sess.UserID != claims.Subject || !active(sess, now):
		s.metrics.Refresh(metrics.RefreshInvalid)
		return Tokens{}, ErrInvalid
	}
	if s.inGrace(sess, claims.ID, now) {
		toks, err := s.issue(ctx, sess, next, "")
		if err != nil {
			return Tokens{}, err
		}
		s.metrics.Refresh(metrics.RefreshGrace)
		return toks, nil
	}
	// A refresh token we signed for this session that is neither current
	// nor in grace: it was rotated before, so someone replayed it.
	if _, err := s.revoke(ctx, sess.UserID, sess.ID, ReasonReuse); err != nil {
		return Tokens{}, err
	}
	s.metrics.Refresh(metrics.RefreshTheft)
	s.log.LogAttrs(ctx, slog.LevelWarn, "refresh token reuse detected; session revoked", reqlog.RefreshReuse.Attr(),
		slog.String("user_id", sess.UserID.String()), slog.String("session_id", sess.ID.String()),
		slog.Int64("presented_generation", claims.Generation), slog.Int64("current_generation", sess.Generation))
	return Tokens{}, ErrReused
}

// rotateSession is RotateSession, or with Options.RoleClaim
// RotateSessionWithRole, which reads the user's role in the same
// statement: the default path stays the one-table UPDATE.
func (s *Service) rotateSession(ctx context.Context, p db.RotateSessionParams) (db.RotateSessionRow, string, error) {
	if !s.opts.RoleClaim {
		row, err := s.q.RotateSession(ctx, p)
		return row, "", err
	}
	r, err := s.q.RotateSessionWithRole(ctx, db.RotateSessionWithRoleParams(p))
	return db.RotateSessionRow{
		ID: r.ID, UserID: r.UserID, Generation: r.Generation, IdleExpiresAt: r.IdleExpiresAt,
		ExpiresAt: r.ExpiresAt, Aal: r.Aal, Amr: r.Amr, AuthTime: r.AuthTime,
	}, r.Role, err
}

// inGrace reports whether generation id gen is the one just before the
// session's current generation, rotated less than ReuseGrace ago.
func (s *Service) inGrace(sess db.Session, gen string, now time.Time) bool {
	return bytes.Equal(sess.PreviousHash, hashID(gen)) &&
		bytes.Equal(sess.CurrentHash, hashID(nextGenerationID(gen))) &&
		sess.RotatedAt != nil && s.opts.ReuseGrace > 0 && now.Sub(*sess.RotatedAt) < s.opts.ReuseGrace
}

// assurance is what the access tokens of sess say of its authentication.
func assurance(sess db.Session) token.Assurance {
	return token.Assurance{AAL: int(sess.Aal), AMR: sess.Amr, AuthTime: sess.AuthTime}
}

func active(s db.Session, now time.Time) bool {
	return s.RevokedAt == nil && now.Before(s.IdleExpiresAt) && now.Before(s.ExpiresAt)
}
