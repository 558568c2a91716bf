package session

import (
	"context"
	"log/slog"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/onetime"
	"github.com/authd/authd/internal/reqlog"
)

// VerifyEmail marks the address a verification code was sent to as
// proven, if it is still the user's. A bad code (unknown, expired, used,
// of another purpose, or sent to an address the user no longer has) is
// ErrBadVerificationCode; a good one of a user already verified is
// ErrAlreadyVerified. Either way a code that was found is used up. The
// user's other verification codes are deleted.
func (s *Service) VerifyEmail(ctx context.Context, raw string) error {
	var (
		user           db.User
		stale, already bool
	)
	err := s.tx(ctx, func(q *db.Queries) error {
		tok, ok, err := s.spend(ctx, q, raw, onetime.VerifyEmail)
		if err != nil || !ok {
			if err != nil {
				return err
			}
			return ErrBadVerificationCode
		}
		user = tok.user
		switch {
		case tok.email != user.Email:
			stale = true
			return nil
		case user.Verified:
			already = true
			return nil
		}
		return s.markVerified(ctx, q, &user)
	})
	switch {
	case err != nil:
		return err
	case stale:
		return ErrBadVerificationCode
	case already:
		return ErrAlreadyVerified
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "email verified", reqlog.EmailVerified.Attr(), slog.String("user_id", user.ID.String()))
	return nil
}

// ResendVerification queues a new verification mail to email if it has
// an unverified account and is within its allowance. Like ForgotPassword,
// every address gets nil after the same look-up and allowance. email must
// pass ValidEmail.
func (s *Service) ResendVerification(ctx context.Context, email string) error {
	email, err := ValidEmail(email)
	if err != nil {
		return err
	}
	return s.mailKnown(ctx, email, mail.KindVerifyEmail, func(u db.User) bool { return u.Verified })
}
