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
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/reqlog"
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
	return s.mailKnown(ctx, email, mail.KindResetPassword, func(db.User) bool { return false })
}

// ResetPassword sets a new password with a reset token. The password must
// pass validNewPassword with its confirmation. A bad token (unknown,
// expired, used, of another purpose, or sent to an address the user no
// longer has) is ErrBadResetToken, found before any hashing and before
// the password policy (which may ask a breached-password service): a
// client without a valid link gets only the offline checks (validTyped),
// whose answers come first.
//
// The token is used up in a short transaction of its own before the
// password is hashed, so that of any number of concurrent requests with
// one token only one hashes; the others wait for the user's lock and find
// it gone. A full hashing queue is refused (password.ErrBusy) before the
// token is touched, so a busy answer keeps the link; a hash refused after
// the token was spent (the queue filled in between, or the client left
// while it waited) puts the token back (restoreReset), so that answer
// keeps the link too. Then, in one
// transaction, if the user's address and password are still those of the
// claim (else ErrBadResetToken: a change that came in between wins), it
// marks the address verified (the reset proved it) and sets the password
// (setPassword): every session of the user ends.
func (s *Service) ResetPassword(ctx context.Context, raw, pw, confirm string) error {
	if err := validTyped(pw, confirm); err != nil {
		return err
	}
	if err := s.hasher.Refusal(ctx); err != nil {
		return err
	}
	if _, ok, err := s.tokenUser(ctx, s.q, raw, onetime.ResetPassword); err != nil || !ok {
		if err != nil {
			return err
		}
		return ErrBadResetToken
	}
	if err := s.checkPolicy(ctx, pw); err != nil {
		return err
	}
	claimed, err := s.claimReset(ctx, raw)
	if err != nil {
		return err
	}
	hash, err := s.hasher.Hash(ctx, pw)
	if errors.Is(err, password.ErrBusy) { // refused before any hashing
		s.restoreReset(ctx, raw, claimed)
		return err
	}
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelInfo, "password reset not applied: the token is spent", reqlog.PasswordResetFailed.Attr(),
			slog.String("user_id", claimed.User.ID.String()), slog.String("error", err.Error()))
		return err
	}
	var (
		user    db.User
		revoked int64
	)
	err = s.tx(ctx, func(q *db.Queries) error {
		var err error
		user, err = q.LockUser(ctx, claimed.User.ID)
		switch {
		case errors.Is(err, db.ErrNotFound):
			return ErrBadResetToken
		case err != nil:
			return fmt.Errorf("lock user: %w", err)
		case user.Email != claimed.User.Email || user.PasswordHash != claimed.User.PasswordHash:
			return ErrBadResetToken
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
	s.metrics.SessionsRevoked(string(ReasonPasswordReset), revoked)
	s.log.LogAttrs(ctx, slog.LevelInfo, "password reset", reqlog.PasswordReset.Attr(), slog.String("user_id", user.ID.String()),
		slog.Int64("sessions_revoked", revoked))
	return nil
}

// claimReset uses up the reset token raw in a transaction of its own and
// returns it as spent, with its user as the claim found it. A bad or stale
// token is ErrBadResetToken (a stale one is gone all the same).
func (s *Service) claimReset(ctx context.Context, raw string) (onetime.Spent, error) {
	var (
		claim onetime.Spent
		stale bool
	)
	err := s.tx(ctx, func(q *db.Queries) error {
		tok, ok, err := s.spend(ctx, q, raw, onetime.ResetPassword)
		if err != nil || !ok {
			if err != nil {
				return err
			}
			return ErrBadResetToken
		}
		claim, stale = tok.was, tok.email != tok.user.Email
		return nil // commit: the token is gone
	})
	switch {
	case err != nil:
		return onetime.Spent{}, err
	case stale:
		return onetime.Spent{}, ErrBadResetToken
	}
	return claim, nil
}

// restoreReset puts back the reset token raw that claimReset spent as
// claim, in one transaction under the user's lock, if the user's address
// and password are still those of the claim: else a change (a new
// password, a confirmed address) ended the user's links meanwhile, and
// this one stays used up. The owner's link outlives a client that left.
func (s *Service) restoreReset(ctx context.Context, raw string, claim onetime.Spent) {
	ctx = context.WithoutCancel(ctx)
	err := s.tx(ctx, func(q *db.Queries) error {
		user, err := q.LockUser(ctx, claim.User.ID)
		switch {
		case errors.Is(err, db.ErrNotFound):
			return nil
		case err != nil:
			return fmt.Errorf("lock user: %w", err)
		case user.Email != claim.Email || user.PasswordHash != claim.User.PasswordHash:
			return nil
		}
		return s.secrets.Restore(ctx, q, onetime.ResetPassword, raw, claim)
	})
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "password reset refused busy: its token is spent", reqlog.PasswordResetFailed.Attr(),
			slog.String("user_id", claim.User.ID.String()), slog.String("error", err.Error()))
	}
}
