package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/onetime"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/reqlog"
)

// checkPassword proves the caller knows a's password, as a login does:
// the attempt is counted in the login throttle first (a locked address is
// a *LockedError, whatever the password), a wrong password is
// ErrBadCredentials and stays counted, a right one clears the count. As in
// Login, an attempt refused a hashing slot (password.ErrBusy) is taken back.
func (s *Service) checkPassword(ctx context.Context, a Auth, pw string) error {
	// A live session of the account is at least as good a proof as a
	// known device's cookie: the check goes in the hasher's known lane.
	ctx = password.KnownDevice(ctx)
	if err := s.hasher.Refusal(ctx); err != nil {
		return err
	}
	email := a.User.Email
	lock, err := s.admit(ctx, email)
	if err != nil {
		return err
	}
	err = s.hasher.Compare(ctx, a.User.PasswordHash, pw)
	if errors.Is(err, password.ErrBusy) {
		s.unreserve(ctx, email)
	}
	if errors.Is(err, password.ErrMismatch) {
		s.log.LogAttrs(ctx, slog.LevelInfo, "password check failed", reqlog.PasswordCheckFailed.Attr(), slog.String("user_id", a.User.ID.String()))
		if err := s.recordFailure(ctx, reqlog.PasswordCheckFailed, a.User.ID, "wrong password", lock); err != nil {
			return err
		}
		return ErrBadCredentials
	}
	if err != nil {
		return err
	}
	if s.opts.LoginFailureThreshold > 0 {
		if err := s.q.ClearLoginFailures(ctx, email); err != nil {
			return fmt.Errorf("clear login failures: %w", err)
		}
	}
	return nil
}

// lockLive locks a's user and checks that a's session is still active:
// a flow that waited for the lock behind a reset (which ended every
// session) must not go on. A session that ended is ErrInvalid.
func (s *Service) lockLive(ctx context.Context, q *db.Queries, a Auth) (db.User, error) {
	user, err := q.LockUser(ctx, a.User.ID)
	switch {
	case errors.Is(err, db.ErrNotFound):
		return db.User{}, ErrInvalid
	case err != nil:
		return db.User{}, fmt.Errorf("lock user: %w", err)
	}
	_, err = q.GetSessionUser(ctx, db.GetSessionUserParams{SessionID: a.Session, UserID: user.ID, Now: s.now()})
	switch {
	case errors.Is(err, db.ErrNotFound):
		return db.User{}, ErrInvalid
	case err != nil:
		return db.User{}, fmt.Errorf("check session: %w", err)
	}
	return user, nil
}

// ChangePassword sets a new password for the caller, who proves the
// current one (counted in the login throttle, see checkPassword). The new
// one must pass validNewPassword with its confirmation; equal to the
// current one it is ErrSamePassword. In one transaction it sets the
// password (setPassword): every other session of the user ends at once,
// the caller's stays.
func (s *Service) ChangePassword(ctx context.Context, a Auth, current, next, confirm string) error {
	if err := validCurrentPassword(current); err != nil {
		return err
	}
	if err := s.validNewPassword(ctx, next, confirm); err != nil {
		return err
	}
	if current == next {
		return ErrSamePassword
	}
	if err := s.checkPassword(ctx, a, current); err != nil {
		return err
	}
	hash, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return err
	}
	var revoked int64
	err = s.tx(ctx, func(q *db.Queries) error {
		user, err := s.lockLive(ctx, q, a)
		if err != nil {
			return err
		}
		revoked, err = s.setPassword(ctx, q, &user, hash, ReasonPasswordChange, a.Session)
		return err
	})
	if err != nil {
		return err
	}
	s.metrics.SessionsRevoked(string(ReasonPasswordChange), revoked)
	s.log.LogAttrs(ctx, slog.LevelInfo, "password changed", reqlog.PasswordChanged.Attr(), slog.String("user_id", a.User.ID.String()),
		slog.Int64("sessions_revoked", revoked))
	return nil
}

// RequestEmailChange asks to move the caller's account to newEmail; the
// caller proves the current password (see checkPassword). Within the new
// address's allowance it queues a confirmation link to the new address,
// bound to it, and a notice to the old one. If the new address has an
// account, that address gets a notice instead of the link, and nothing
// else differs (same answer, same work, the old address's notice too), so
// this is no way to learn whether an address has an account. Every
// request ends the links of the older ones (their unsent mails are
// superseded and their tokens deleted), even one refused a mail by its
// allowance. newEmail must pass
// ValidEmail; the current address itself is ErrSameEmail.
func (s *Service) RequestEmailChange(ctx context.Context, a Auth, newEmail, pw string) error {
	newEmail, err := ValidEmail(newEmail)
	if err != nil {
		return err
	}
	if err := validCurrentPassword(pw); err != nil {
		return err
	}
	if newEmail == a.User.Email {
		return ErrSameEmail
	}
	if err := s.checkPassword(ctx, a, pw); err != nil {
		return err
	}
	err = s.tx(ctx, func(q *db.Queries) error {
		user, err := s.lockLive(ctx, q, a)
		if err != nil {
			return err
		}
		// A newer request ends the links of the older ones, whatever
		// becomes of it: a mistyped address keeps no way in.
		if err := s.endLinks(ctx, q, user.ID, onetime.ChangeEmail); err != nil {
			return err
		}
		if err := s.record(ctx, q, event{name: reqlog.EmailChangeRequested, user: user.ID}); err != nil {
			return err
		}
		owner, err := q.GetUserByEmail(ctx, newEmail)
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			return fmt.Errorf("get user: %w", err)
		}
		ok, err := s.allow(ctx, q, newEmail, mail.KindChangeEmail)
		if err != nil || !ok {
			return err
		}
		notice := to(mail.KindEmailChangeNotice, user)
		if proven(user) { // else whoever registered it chose newEmail's text
			notice.Data.NewEmail = newEmail
		}
		notices, err := s.notice(ctx, q, notice) // within the old address's allowance
		if err != nil {
			return err
		}
		if owner.Email != "" {
			return s.queue(ctx, q, append([]mail.Mail{to(mail.KindEmailTakenNotice, owner)}, notices...)...)
		}
		change := to(mail.KindChangeEmail, user)
		change.To, change.Data.NewEmail, change.Data.Name = newEmail, newEmail, "" // not proven: no name
		return s.queue(ctx, q, append([]mail.Mail{change}, notices...)...)
	})
	if err != nil {
		return err
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "email change requested", reqlog.EmailChangeRequested.Attr(), slog.String("user_id", a.User.ID.String()))
	return nil
}

// ConfirmEmailChange moves the account of an email-change token to the
// address the token was sent to, which is thereby verified. A bad token
// (unknown, expired, used, of another purpose, or for the address the
// account already has) is ErrBadEmailChangeToken. An address that got an
// account meanwhile is ErrEmailTaken, and the token stays (nothing is
// written). The user's reset and verification tokens (bound to the old
// address) and other email-change tokens are deleted.
func (s *Service) ConfirmEmailChange(ctx context.Context, raw string) error {
	var (
		user  db.User
		stale bool
	)
	err := s.tx(ctx, func(q *db.Queries) error {
		tok, ok, err := s.spend(ctx, q, raw, onetime.ChangeEmail)
		if err != nil || !ok {
			if err != nil {
				return err
			}
			return ErrBadEmailChangeToken
		}
		user = tok.user
		if tok.email == user.Email {
			stale = true
			return nil
		}
		n, err := q.ChangeUserEmail(ctx, db.ChangeUserEmailParams{ID: user.ID, OldEmail: user.Email, NewEmail: tok.email, Now: s.now()})
		switch {
		case errors.Is(err, db.ErrConflict):
			return ErrEmailTaken
		case err != nil:
			return fmt.Errorf("change email: %w", err)
		case n == 0: // cannot happen under the lock
			return ErrBadEmailChangeToken
		}
		if err := s.record(ctx, q, event{name: reqlog.EmailChanged, user: user.ID}); err != nil {
			return err
		}
		return s.endLinks(ctx, q, user.ID, onetime.ResetPassword, onetime.VerifyEmail, onetime.ChangeEmail)
	})
	switch {
	case err != nil:
		return err
	case stale:
		return ErrBadEmailChangeToken
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "email changed", reqlog.EmailChanged.Attr(), slog.String("user_id", user.ID.String()))
	return nil
}

// DeleteAccount deletes the caller's account for good (deleteUser); the
// caller proves the current password (see checkPassword). The only admin
// is ErrLastAdmin: admins are locked first, so two admins deleting
// themselves at once cannot leave none.
func (s *Service) DeleteAccount(ctx context.Context, a Auth, pw string) error {
	if err := validCurrentPassword(pw); err != nil {
		return err
	}
	if err := s.checkPassword(ctx, a, pw); err != nil {
		return err
	}
	var revoked int64
	err := s.tx(ctx, func(q *db.Queries) error {
		admins := -1
		if a.User.Role == RoleAdmin {
			var err error
			if admins, err = lockAdmins(ctx, q); err != nil {
				return err
			}
		}
		user, err := s.lockLive(ctx, q, a)
		if err != nil {
			return err
		}
		revoked, err = s.deleteUser(ctx, q, user, admins)
		return err
	})
	if err != nil {
		return err
	}
	s.metrics.SessionsRevoked(string(ReasonAccountDeleted), revoked)
	s.log.LogAttrs(ctx, slog.LevelInfo, "account deleted", reqlog.UserDeleted.Attr(), slog.String("user_id", a.User.ID.String()))
	return nil
}
