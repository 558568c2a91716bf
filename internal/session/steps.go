package session

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/onetime"
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
	if _, err := mail.Supersede(ctx, q, user.ID, now, mail.KindResetPassword, mail.KindChangeEmail); err != nil {
		return 0, err // before DropUser: see mail.Supersede
	}
	if _, err := s.secrets.DropUser(ctx, q, user.ID, onetime.ResetPassword, onetime.ChangeEmail, onetime.LoginTicket); err != nil {
		return 0, err
	}
	if err := q.ClearLoginFailures(ctx, user.Email); err != nil {
		return 0, fmt.Errorf("clear login failures: %w", err)
	}
	revoked, err := q.RevokeUserSessions(ctx, db.RevokeUserSessionsParams{
		UserID: user.ID, Now: now, Reason: string(why), ExceptID: nullUUID(keep),
	})
	if err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
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
// address's allowance (the outbox outlives the user). The caller has
// checked that user is not the last admin. It returns how many sessions
// ended.
func (s *Service) deleteUser(ctx context.Context, q *db.Queries, user db.User) (int64, error) {
	revoked, err := q.RevokeUserSessions(ctx, db.RevokeUserSessionsParams{
		UserID: user.ID, Now: s.now(), Reason: string(ReasonAccountDeleted),
	})
	if err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	if _, err := q.DeleteUser(ctx, user.ID); err != nil {
		return 0, fmt.Errorf("delete user: %w", err)
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
