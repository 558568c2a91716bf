package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/onetime"
	"github.com/authd/authd/internal/reqlog"
)

// Reasons of the operator's commands.
const (
	ReasonRevokedByAdmin     Reason = "revoked_by_admin"      // every session, by authd user revoke-sessions
	ReasonPasswordSetByAdmin Reason = "password_set_by_admin" // every session, by authd user set-password
)

// Errors of the operator's commands.
var (
	// ErrNoUser: no account has this address.
	ErrNoUser = errors.New("no user with this email")
	// ErrLastAdminDemoted: the only admin cannot be made a user.
	ErrLastAdminDemoted = errors.New("the last admin cannot be made a user")
)

// Admin is the operator's side of the service, what `authd user` runs.
// Its methods act on the account of an address, with no session or
// password of that account: the caller (the command line, with the
// service's own database credentials) is trusted. They log nothing; the
// caller writes the audit line.
type Admin struct {
	s *Service
}

// Admin returns the operator's side of s.
func (s *Service) Admin() *Admin { return &Admin{s: s} }

// UserFilter chooses the users List returns.
type UserFilter struct {
	EmailPrefix string // addresses starting with this (normalised); "": all
	Unverified  bool   // only users whose address is not verified
	Limit       int    // at most this many, 1 to MaxListed
}

// MaxListed is the most users List returns.
const MaxListed = 10000

// List returns users, oldest first.
func (a *Admin) List(ctx context.Context, f UserFilter) ([]db.User, error) {
	limit := f.Limit
	if limit < 1 || limit > MaxListed {
		return nil, invalid(fmt.Sprintf("limit must be 1 to %d", MaxListed))
	}
	var prefix *string
	if p := NormaliseEmail(f.EmailPrefix); p != "" {
		p = likeEscaper.Replace(p)
		prefix = &p
	}
	users, err := a.s.q.ListUsers(ctx, db.ListUsersParams{EmailPrefix: prefix, UnverifiedOnly: f.Unverified, MaxRows: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}

// likeEscaper makes a text match itself in a LIKE pattern (whose escape
// character is \ by default).
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// Account is a user as the operator sees it.
type Account struct {
	User         db.User
	LiveSessions int64      // sessions that still work
	FailedLogins int32      // counted by the login throttle
	LockedUntil  *time.Time // the login throttle's lock, if it has not ended
}

// Show returns the account of email.
func (a *Admin) Show(ctx context.Context, email string) (Account, error) {
	user, err := a.byEmail(ctx, a.s.q, email)
	if err != nil {
		return Account{}, err
	}
	now := a.s.now()
	acct := Account{User: user}
	if acct.LiveSessions, err = a.s.q.CountLiveUserSessions(ctx, db.CountLiveUserSessionsParams{UserID: user.ID, Now: now}); err != nil {
		return Account{}, fmt.Errorf("count sessions: %w", err)
	}
	t, err := a.s.q.GetLoginThrottle(ctx, user.Email)
	switch {
	case errors.Is(err, db.ErrNotFound):
	case err != nil:
		return Account{}, fmt.Errorf("get login throttle: %w", err)
	default:
		acct.FailedLogins = t.Failures
		if t.LockedUntil != nil && t.LockedUntil.After(now) {
			acct.LockedUntil = t.LockedUntil
		}
	}
	return acct, nil
}

// NewUser is an account the operator creates.
type NewUser struct {
	Email    string
	Name     string // "": the part of Email before the @
	Password string
	Role     string // RoleUser or RoleAdmin; "": RoleUser
	Verified bool   // the address counts as verified
}

// Create creates an account under registration's rules for the address,
// name and password (an *InvalidError otherwise). A taken address is
// ErrEmailTaken before any hashing. No mail is queued.
func (a *Admin) Create(ctx context.Context, n NewUser) (db.User, error) {
	email, err := ValidEmail(n.Email)
	if err != nil {
		return db.User{}, err
	}
	name := n.Name
	if strings.TrimSpace(name) == "" {
		name, _, _ = strings.Cut(email, "@")
	}
	if name, err = ValidName(name); err != nil {
		return db.User{}, err
	}
	role := n.Role
	if role == "" {
		role = RoleUser
	}
	if err := validRole(role); err != nil {
		return db.User{}, err
	}
	if err := a.s.newPassword(ctx, n.Password); err != nil {
		return db.User{}, err
	}
	switch _, err := a.s.q.GetUserByEmail(ctx, email); {
	case err == nil:
		return db.User{}, ErrEmailTaken
	case !errors.Is(err, db.ErrNotFound):
		return db.User{}, fmt.Errorf("get user: %w", err)
	}
	hash, err := a.s.hasher.Hash(ctx, n.Password)
	if err != nil {
		return db.User{}, err
	}
	var user db.User
	err = a.s.tx(ctx, func(q *db.Queries) error {
		now := a.s.now()
		u, err := q.CreateUser(ctx, db.CreateUserParams{Name: name, Email: email, PasswordHash: hash, Now: now})
		if err != nil {
			return err
		}
		if role != u.Role {
			if _, err := q.SetUserRole(ctx, db.SetUserRoleParams{ID: u.ID, Role: role, Now: now}); err != nil {
				return fmt.Errorf("set role: %w", err)
			}
		}
		if n.Verified {
			if _, err := q.VerifyUserEmail(ctx, db.VerifyUserEmailParams{ID: u.ID, Email: email, Now: now}); err != nil {
				return fmt.Errorf("verify email: %w", err)
			}
		}
		if user, err = q.GetUserByID(ctx, u.ID); err != nil {
			return err
		}
		return a.s.record(ctx, q, event{name: reqlog.UserRegistered, user: u.ID,
			data: map[string]any{"role": user.Role, "verified": user.Verified}})
	})
	switch {
	case errors.Is(err, db.ErrConflict):
		return db.User{}, ErrEmailTaken
	case err != nil:
		return db.User{}, fmt.Errorf("create user: %w", err)
	}
	return user, nil
}

// Verify marks the address of email verified and deletes the user's
// verification tokens. already reports that it was verified before, and
// then nothing changes.
func (a *Admin) Verify(ctx context.Context, email string) (user db.User, already bool, err error) {
	err = a.s.tx(ctx, func(q *db.Queries) error {
		if user, err = a.lock(ctx, q, email); err != nil {
			return err
		}
		if user.Verified {
			already = true
			return nil
		}
		return a.s.markVerified(ctx, q, &user)
	})
	return user, already, err
}

// SetRole gives the user of email role (RoleUser or RoleAdmin). The only
// admin cannot become a user (ErrLastAdminDemoted): the admins are locked
// first, as DeleteAccount locks them, so two demotions at once cannot
// leave none. unchanged reports that the user had the role already. The
// role takes effect at the user's next request (Authenticate reads it).
func (a *Admin) SetRole(ctx context.Context, email, role string) (user db.User, unchanged bool, err error) {
	if err := validRole(role); err != nil {
		return db.User{}, false, err
	}
	err = a.s.tx(ctx, func(q *db.Queries) error {
		admins, err := lockAdmins(ctx, q)
		if err != nil {
			return err
		}
		if user, err = a.lock(ctx, q, email); err != nil {
			return err
		}
		switch {
		case user.Role == role:
			unchanged = true
			return nil
		case lastAdmin(user, admins):
			return ErrLastAdminDemoted
		}
		if _, err := q.SetUserRole(ctx, db.SetUserRoleParams{ID: user.ID, Role: role, Now: a.s.now()}); err != nil {
			return fmt.Errorf("set role: %w", err)
		}
		was := user.Role
		user.Role = role
		return a.s.record(ctx, q, event{name: reqlog.UserRoleChanged, user: user.ID, data: map[string]any{"from": was, "to": role}})
	})
	return user, unchanged, err
}

// SetPassword sets the password of the user of email, under
// registration's rule (an *InvalidError otherwise), in one transaction
// and by the same step as ResetPassword (setPassword): every session of
// the user ends at once and a "password changed" notice is queued (with
// mail on). It does not mark the address verified:
// nothing here proved it. It returns how many sessions it ended.
func (a *Admin) SetPassword(ctx context.Context, email, pw string) (db.User, int64, error) {
	if err := a.s.newPassword(ctx, pw); err != nil {
		return db.User{}, 0, err
	}
	if _, err := a.byEmail(ctx, a.s.q, email); err != nil {
		return db.User{}, 0, err // before the hashing
	}
	hash, err := a.s.hasher.Hash(ctx, pw)
	if err != nil {
		return db.User{}, 0, err
	}
	var (
		user    db.User
		revoked int64
	)
	err = a.s.tx(ctx, func(q *db.Queries) error {
		var err error
		if user, err = a.lock(ctx, q, email); err != nil {
			return err
		}
		revoked, err = a.s.setPassword(ctx, q, &user, hash, ReasonPasswordSetByAdmin, uuid.Nil)
		return err
	})
	if err != nil {
		return db.User{}, 0, err
	}
	a.s.metrics.SessionsRevoked(string(ReasonPasswordSetByAdmin), revoked)
	return user, revoked, nil
}

// RevokeSessions ends every session of the user of email at once (their
// access tokens stop at the next request) and returns how many.
func (a *Admin) RevokeSessions(ctx context.Context, email string) (db.User, int64, error) {
	user, err := a.byEmail(ctx, a.s.q, email)
	if err != nil {
		return db.User{}, 0, err
	}
	var n int64
	err = a.s.tx(ctx, func(q *db.Queries) (err error) {
		n, err = a.s.endSessions(ctx, q, user.ID, uuid.Nil, ReasonRevokedByAdmin)
		return err
	})
	if err != nil {
		return db.User{}, 0, err
	}
	a.s.metrics.SessionsRevoked(string(ReasonRevokedByAdmin), n)
	return user, n, nil
}

// ResetToken is a password reset token minted for the operator.
type ResetToken struct {
	User      db.User
	Token     string // the raw token: only the caller ever has it
	ExpiresAt time.Time
}

// Bounds of a reset token's lifetime from ResetToken.
const (
	minResetTTL = time.Minute
	maxResetTTL = 7 * 24 * time.Hour
)

// ResetToken mints a reset_password token for the user of email, valid
// for ttl (1 minute to 7 days), through onetime as the mail sender mints
// one (bound to the user and the current address), and sends nothing.
// ResetPassword takes it once, like a mailed one; the user's other reset
// tokens stay valid.
func (a *Admin) ResetToken(ctx context.Context, email string, ttl time.Duration) (ResetToken, error) {
	if ttl < minResetTTL || ttl > maxResetTTL {
		return ResetToken{}, invalid(fmt.Sprintf("ttl must be %s to %s", minResetTTL, maxResetTTL))
	}
	user, err := a.byEmail(ctx, a.s.q, email)
	if err != nil {
		return ResetToken{}, err
	}
	var tok onetime.Token
	err = a.s.tx(ctx, func(q *db.Queries) (err error) {
		if tok, err = a.s.secrets.MintFor(ctx, q, onetime.ResetPassword, user.ID, user.Email, ttl); err != nil {
			return err
		}
		return a.s.record(ctx, q, event{name: reqlog.PasswordResetIssued, user: user.ID,
			data: map[string]any{"expires_at": tok.ExpiresAt.UTC().Truncate(time.Second)}})
	})
	if err != nil {
		return ResetToken{}, err
	}
	return ResetToken{User: user, Token: tok.Raw, ExpiresAt: tok.ExpiresAt}, nil
}

// Delete deletes the account of email for good, by the same step as
// DeleteAccount (deleteUser) but without its password: its sessions end
// (counted as account_deleted) and go with its tokens, its failed logins
// are cleared, and an "account deleted" notice is queued (with mail on). The
// only admin is ErrLastAdmin. It returns the user as it was and how many
// sessions ended.
func (a *Admin) Delete(ctx context.Context, email string) (db.User, int64, error) {
	var (
		user    db.User
		revoked int64
	)
	err := a.s.tx(ctx, func(q *db.Queries) error {
		admins, err := lockAdmins(ctx, q)
		if err != nil {
			return err
		}
		if user, err = a.lock(ctx, q, email); err != nil {
			return err
		}
		revoked, err = a.s.deleteUser(ctx, q, user, admins)
		return err
	})
	if err != nil {
		return db.User{}, 0, err
	}
	a.s.metrics.SessionsRevoked(string(ReasonAccountDeleted), revoked)
	return user, revoked, nil
}

// byEmail reads the user of email (normalised); none is ErrNoUser.
func (a *Admin) byEmail(ctx context.Context, q *db.Queries, email string) (db.User, error) {
	user, err := q.GetUserByEmail(ctx, NormaliseEmail(email))
	switch {
	case errors.Is(err, db.ErrNotFound):
		return db.User{}, ErrNoUser
	case err != nil:
		return db.User{}, fmt.Errorf("get user: %w", err)
	}
	return user, nil
}

// lock reads and locks the user of email in q's transaction (LockUser,
// the lock every flow takes first). A user whose address changed before
// the lock was granted is ErrNoUser, like one deleted.
func (a *Admin) lock(ctx context.Context, q *db.Queries, email string) (db.User, error) {
	found, err := a.byEmail(ctx, q, email)
	if err != nil {
		return db.User{}, err
	}
	user, err := q.LockUser(ctx, found.ID)
	switch {
	case errors.Is(err, db.ErrNotFound):
		return db.User{}, ErrNoUser
	case err != nil:
		return db.User{}, fmt.Errorf("lock user: %w", err)
	case user.Email != found.Email:
		return db.User{}, ErrNoUser
	}
	return user, nil
}
