package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/onetime"
)

// ForgotPassword queues a reset link to email if it has an account (verified
// or not: a reset proves the mailbox, so the owner of a squatted address
// gets it back) and the address is within its mail allowance. An unknown
// address costs the same work (the look-up and the allowance, which every
// address gets), and the answer is nil alike: nothing tells the caller
// whether the address has an account. email must pass ValidEmail.
func (s *Service) ForgotPassword(ctx context.Context, email string) error {
	email, err := ValidEmail(email)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(q *db.Queries) error {
		user, err := q.GetUserByEmail(ctx, email)
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			return fmt.Errorf("get user: %w", err)
		}
		ok, err := s.allow(ctx, q, email, mail.KindResetPassword)
		if err != nil || !ok || user.ID == uuid.Nil {
			return err
		}
		return s.queue(ctx, q, to(mail.KindResetPassword, user))
	})
}

// ResetPassword sets a new password with a reset token. The password must
// pass validNewPassword with its confirmation. A bad token (unknown,
// expired, used, of another purpose, or sent to an address the user no
// longer has) is ErrBadResetToken, found before any hashing. In one
// transaction it then uses the token up, marks the address verified (the
// reset proved it) and sets the password (setPassword): every session of
// the user ends.
func (s *Service) ResetPassword(ctx context.Context, raw, pw, confirm string) error {
	if err := validNewPassword(pw, confirm); err != nil {
		return err
	}
	if err := s.hasher.Refusal(); err != nil {
		return err
	}
	if _, ok, err := s.tokenUser(ctx, s.q, raw, onetime.ResetPassword); err != nil || !ok {
		if err != nil {
			return err
		}
		return ErrBadResetToken
	}
	hash, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return err
	}
	var (
		user    db.User
		stale   bool
		revoked int64
	)
	err = s.tx(ctx, func(q *db.Queries) error {
		tok, ok, err := s.spend(ctx, q, raw, onetime.ResetPassword)
		if err != nil || !ok {
			if err != nil {
				return err
			}
			return ErrBadResetToken
		}
		user = tok.user
		if tok.email != user.Email {
			stale = true
			return nil // commit: the token is gone
		}
		if !user.Verified || user.EmailVerifiedAt == nil {
			if _, err := q.VerifyUserEmail(ctx, db.VerifyUserEmailParams{ID: user.ID, Email: user.Email, Now: s.now()}); err != nil {
				return fmt.Errorf("verify email: %w", err)
			}
		}
		revoked, err = s.setPassword(ctx, q, &user, hash, ReasonPasswordReset, uuid.Nil)
		return err
	})
	if err != nil {
		return err
	}
	if stale {
		return ErrBadResetToken
	}
	s.metrics.SessionsRevoked(string(ReasonPasswordReset), revoked)
	s.log.LogAttrs(ctx, slog.LevelInfo, "password reset", slog.String("user_id", user.ID.String()),
		slog.Int64("sessions_revoked", revoked))
	return nil
}
