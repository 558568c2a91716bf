package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/onetime"
	"github.com/authd/authd/internal/reqlog"
)

// The steps that the API's flows and the operator's commands share, each
// run in its caller's transaction after the caller has locked the user.

// setPassword gives user the password of hash: it deletes the user's
// reset and email-change tokens and login tickets (a link asked for under the old password
// must not outlive it), clears the address's failed logins, revokes every
// session of the user but keep (uuid.Nil: none is kept) for why, and
// queues a "password changed" notice within the address's allowance. It sets user's PasswordHash and
// PasswordChangedAt as stored and returns how many sessions it ended; the
// caller records them once the transaction commits.
func (s *Service) setPassword(ctx context.Context, q *db.Queries, user *db.User, hash string, why Reason, keep uuid.UUID) (int64, error) {
	now := s.now()
	if err := q.SetUserPassword(ctx, db.SetUserPasswordParams{ID: user.ID, PasswordHash: hash, Now: now}); err != nil {
		return 0, fmt.Errorf("set password: %w", err)
	}
	name := reqlog.PasswordChanged
	if why == ReasonPasswordReset {
		name = reqlog.PasswordReset
	}
	if err := s.record(ctx, q, event{name: name, user: user.ID, data: map[string]any{"reason": string(why)}}); err != nil {
		return 0, err
	}
	if why != ReasonPasswordChange {
		// A reset (by mail or by the operator) is a recovery: the devices
		// known so far may include an intruder's, which would keep a
		// login budget and the hashing lane of its own. A change by the
		// signed-in user keeps them.
		if _, err := q.ForgetKnownDevices(ctx, user.ID); err != nil {
			return 0, fmt.Errorf("forget devices: %w", err)
		}
	}
	if err := s.endLinks(ctx, q, user.ID, onetime.ResetPassword, onetime.ChangeEmail); err != nil {
		return 0, err
	}
	if _, err := s.secrets.DropUser(ctx, q, user.ID, onetime.LoginTicket); err != nil { // a login in flight ends too
		return 0, err
	}
	if err := q.ClearLoginFailures(ctx, user.Email); err != nil {
		return 0, fmt.Errorf("clear login failures: %w", err)
	}
	revoked, err := s.endSessions(ctx, q, user.ID, keep, why)
	if err != nil {
		return 0, err
	}
	user.PasswordHash, user.PasswordChangedAt = hash, &now
	notice, err := s.notice(ctx, q, to(mail.KindPasswordChanged, *user))
	if err != nil {
		return 0, err
	}
	return revoked, s.queue(ctx, q, notice...)
}

// deleteUser deletes user for good: its sessions end (counted as
// account_deleted) and go with its tokens, its address's failed logins
// are cleared, and an "account deleted" notice is queued within the
// address's allowance (the outbox outlives the user). The only admin is
// ErrLastAdmin. admins is how many admins the caller locked (lockAdmins)
// before it locked user, or -1 if it locked none: then an admin's are
// locked here. It returns how many sessions ended.
func (s *Service) deleteUser(ctx context.Context, q *db.Queries, user db.User, admins int) (int64, error) {
	if user.Role == RoleAdmin && admins < 0 { // became an admin since the caller looked
		var err error
		if admins, err = lockAdmins(ctx, q); err != nil {
			return 0, err
		}
	}
	if lastAdmin(user, admins) {
		return 0, ErrLastAdmin
	}
	revoked, err := s.endSessions(ctx, q, user.ID, uuid.Nil, ReasonAccountDeleted)
	if err != nil {
		return 0, err
	}
	if _, err := q.DeleteUser(ctx, user.ID); err != nil {
		return 0, fmt.Errorf("delete user: %w", err)
	}
	if err := s.record(ctx, q, event{name: reqlog.UserDeleted, user: user.ID}); err != nil {
		return 0, err
	}
	if err := q.ClearLoginFailures(ctx, user.Email); err != nil {
		return 0, fmt.Errorf("clear login failures: %w", err)
	}
	if !s.opts.Mail {
		return revoked, nil
	}
	ok, err := s.allow(ctx, q, user.Email, mail.KindAccountDeleted)
	if err != nil || !ok {
		return revoked, err
	}
	return revoked, s.queue(ctx, q, to(mail.KindAccountDeleted, user))
}

// lockAdmins locks the admins (in the order every flow that may end one
// takes them, before the user) and returns how many there are.
func lockAdmins(ctx context.Context, q *db.Queries) (int, error) {
	ids, err := q.LockAdmins(ctx)
	if err != nil {
		return 0, fmt.Errorf("lock admins: %w", err)
	}
	return len(ids), nil
}

// lastAdmin reports whether user is the only one of admins (counted by
// lockAdmins): deleting or demoting them would leave no admin.
func lastAdmin(user db.User, admins int) bool {
	return user.Role == RoleAdmin && admins <= 1
}

// markVerified marks user's address verified and deletes their
// verification tokens; it sets user's Verified and EmailVerifiedAt.
func (s *Service) markVerified(ctx context.Context, q *db.Queries, user *db.User) error {
	now := s.now()
	if _, err := q.VerifyUserEmail(ctx, db.VerifyUserEmailParams{ID: user.ID, Email: user.Email, Now: now}); err != nil {
		return fmt.Errorf("verify email: %w", err)
	}
	if _, err := s.secrets.DropUser(ctx, q, user.ID, onetime.VerifyEmail); err != nil {
		return err
	}
	if !user.Verified {
		if err := s.record(ctx, q, event{name: reqlog.EmailVerified, user: user.ID}); err != nil {
			return err
		}
	}
	user.Verified, user.EmailVerifiedAt = true, &now
	return nil
}

// endLinks ends user's links of purposes: their unsent mails first (see
// mail.Supersede), then their tokens.
func (s *Service) endLinks(ctx context.Context, q *db.Queries, user uuid.UUID, purposes ...onetime.Purpose) error {
	kinds := make([]string, len(purposes))
	for i, p := range purposes {
		kinds[i] = string(p) // a link's mail kind is its purpose
	}
	if _, err := mail.Supersede(ctx, q, user, s.now(), kinds...); err != nil {
		return err
	}
	_, err := s.secrets.DropUser(ctx, q, user, purposes...)
	return err
}

// mailKnown queues a mail of kind to the account of email if it has one,
// skip does not refuse it, and the address is within its allowance. Every
// address costs the same work (the look-up and the allowance) and gets
// nil alike, so the answer tells nothing of whether it has an account.
func (s *Service) mailKnown(ctx context.Context, email, kind string, skip func(db.User) bool) error {
	return s.tx(ctx, func(q *db.Queries) error {
		user, err := q.GetUserByEmail(ctx, email)
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			return fmt.Errorf("get user: %w", err)
		}
		ok, err := s.allow(ctx, q, email, kind)
		if err != nil || !ok || user.ID == uuid.Nil || skip(user) {
			return err
		}
		return s.queue(ctx, q, to(kind, user))
	})
}
