package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/reqlog"
)

// Login checks a password and starts a session. For an account with an
// active second factor, the right password starts none: the answer is a
// *MFARequired error with a login ticket for LoginMFA (a wrong password
// answers as for any account). Each attempt is counted
// before its password is checked (see reserve): a locked email is refused
// (*LockedError) before any password work, right password or wrong. An
// unknown email costs the same compare as a known one. With HideExisting
// in force, an unverified account's right password is ErrBadCredentials,
// like a wrong one. With the hashing
// queue full it fails with password.ErrBusy before touching the database;
// an attempt refused a hashing slot after it was counted is taken back
// (unreserve), so a 503 never counts.
func (s *Service) Login(ctx context.Context, email, pw string, c Client) (Tokens, db.User, error) {
	if err := validLogin(email, pw); err != nil {
		return Tokens{}, db.User{}, err
	}
	email = NormaliseEmail(email)
	throttleKey := email
	if ValidDeviceID(c.Device) {
		// A known device has its own throttle budget and the hasher's
		// known lane (device.go); without a cookie no statement is spent
		// before the hasher's refusal.
		var known bool
		if throttleKey, known = s.knownDevice(ctx, email, c.Device); known {
			ctx = password.KnownDevice(ctx)
		}
	}
	if err := s.hasher.Refusal(ctx); err != nil {
		return Tokens{}, db.User{}, err
	}
	lock, err := s.admit(ctx, throttleKey)
	if err != nil {
		var locked *LockedError
		switch {
		case errors.As(err, &locked):
			s.metrics.Login(metrics.LoginThrottled)
		case errors.Is(err, ErrBadCredentials):
			s.metrics.Login(metrics.LoginBadCredentials)
		}
		return Tokens{}, db.User{}, err
	}
	user, err := s.q.GetUserByEmail(ctx, email)
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return Tokens{}, db.User{}, fmt.Errorf("get user: %w", err)
	}
	// An unknown email is compared against a dummy hash: same answer, same work.
	err = s.hasher.Compare(ctx, user.PasswordHash, pw)
	if errors.Is(err, password.ErrBusy) {
		s.unreserve(ctx, throttleKey)
	}
	if errors.Is(err, password.ErrMismatch) {
		attrs := []slog.Attr{reqlog.LoginFailed.Attr(), slog.String("reason", "unknown email")}
		if user.PasswordHash != "" {
			attrs = []slog.Attr{reqlog.LoginFailed.Attr(), slog.String("reason", "wrong password"), slog.String("user_id", user.ID.String())}
			if err := s.recordFailure(ctx, reqlog.LoginFailed, user.ID, "wrong password", lock); err != nil {
				return Tokens{}, db.User{}, err
			}
		}
		s.metrics.Login(metrics.LoginBadCredentials)
		s.log.LogAttrs(ctx, slog.LevelInfo, "login failed", attrs...)
		return Tokens{}, db.User{}, ErrBadCredentials
	}
	if err != nil {
		return Tokens{}, db.User{}, err
	}
	// With HideExisting in force, an unverified account's right password
	// is answered like a wrong one (and stays counted): otherwise whoever
	// registered an address with a password of theirs would learn from
	// this login whether the address was free (this answer) or taken (a
	// wrong password), which the registration's answer hid. The client
	// offers to resend the verification mail.
	if s.opts.Verification.on() && s.opts.HideExisting && !user.Verified {
		s.metrics.Login(metrics.LoginBadCredentials)
		s.log.LogAttrs(ctx, slog.LevelInfo, "login failed", reqlog.LoginFailed.Attr(), slog.String("reason", "email not verified (hidden)"),
			slog.String("user_id", user.ID.String()))
		return Tokens{}, db.User{}, ErrBadCredentials
	}
	// Only now, so that only the right password learns that the account
	// waits for its verification.
	if s.opts.Verification == VerificationRequired && !user.Verified {
		if err := s.clearFailures(ctx, throttleKey); err != nil {
			return Tokens{}, db.User{}, err
		}
		s.metrics.Login(metrics.LoginUnverified)
		s.log.LogAttrs(ctx, slog.LevelInfo, "login refused", reqlog.LoginRefused.Attr(), slog.String("reason", "email not verified"),
			slog.String("user_id", user.ID.String()))
		return Tokens{}, db.User{}, ErrEmailNotVerified
	}
	// A second factor: no session yet, a ticket for LoginMFA. Whether
	// the account has one came with the user: no extra statement for
	// the others.
	if user.MfaEnabled {
		return s.loginTicket(ctx, user, throttleKey)
	}
	// The session only if the hash compared is still the user's: a
	// password reset, change or set-password that committed during the
	// compare ended the user's sessions, and this one must not begin after
	// it. The password is then a wrong one, and the attempt stays counted.
	hash := user.PasswordHash
	toks, err := s.start(ctx, user.ID, &hash, c)
	if errors.Is(err, errPasswordChanged) {
		if err := s.recordFailure(ctx, reqlog.LoginFailed, user.ID, "password changed during the login", lock); err != nil {
			return Tokens{}, db.User{}, err
		}
		s.metrics.Login(metrics.LoginBadCredentials)
		s.log.LogAttrs(ctx, slog.LevelInfo, "login failed", reqlog.LoginFailed.Attr(), slog.String("reason", "password changed during the login"),
			slog.String("user_id", user.ID.String()))
		return Tokens{}, db.User{}, ErrBadCredentials
	}
	if err != nil {
		return Tokens{}, db.User{}, err
	}
	if toks.Device, err = s.deviceLogin(ctx, user, c); err != nil {
		return Tokens{}, db.User{}, err
	}
	if err := s.clearFailures(ctx, throttleKey); err != nil {
		return Tokens{}, db.User{}, err
	}
	s.metrics.Login(metrics.LoginSuccess)
	return toks, user, nil
}

// clearFailures forgets email's failed logins after a right password.
func (s *Service) clearFailures(ctx context.Context, email string) error {
	if s.opts.LoginFailureThreshold <= 0 {
		return nil
	}
	if err := s.q.ClearLoginFailures(ctx, email); err != nil {
		return fmt.Errorf("clear login failures: %w", err)
	}
	return nil
}

// errPasswordChanged: the password hash a login compared is no longer the
// user's (start made no session).
var errPasswordChanged = errors.New("password changed during the login")

// throttleReset is the quiet time (no attempt, no lock) after which an
// email's failures are forgotten.
const throttleReset = time.Hour

// reserve counts a login attempt for email as a failure before its
// password is checked, atomically with the check of its lock, and returns
// a *LockedError if the email is locked. If the attempt it counted starts
// a lock (it goes ahead, and a wrong password leaves the email locked),
// it returns the lock's end. A success clears the count. So
// whatever the concurrency, and on any number of replicas, at most
// LoginFailureThreshold passwords are compared before the first lock and
// one per lock window after it.
func (s *Service) reserve(ctx context.Context, email string) (*time.Time, error) {
	o := s.opts
	if o.LoginFailureThreshold <= 0 {
		return nil, nil
	}
	now := s.now()
	t, err := s.q.ReserveLoginAttempt(ctx, db.ReserveLoginAttemptParams{
		Email: email, Now: now, Threshold: int32(o.LoginFailureThreshold),
		BaseLock: o.LoginLockBase.Seconds(), MaxLock: o.LoginLockMax.Seconds(),
		ResetAfter: throttleReset.Seconds(),
	})
	if !errors.Is(err, db.ErrNotFound) {
		if err != nil {
			return nil, fmt.Errorf("reserve login attempt: %w", err)
		}
		if t.LockedUntil != nil && t.LockedUntil.After(now) {
			return t.LockedUntil, nil // this attempt, if it fails, starts a lock
		}
		return nil, nil
	}
	// Refused: the email is locked. Say for how long.
	after := time.Second
	if t, err := s.q.GetLoginThrottle(ctx, email); err == nil && t.LockedUntil != nil && t.LockedUntil.After(now) {
		after = t.LockedUntil.Sub(now)
	}
	return nil, &LockedError{RetryAfter: after}
}

// admit reserves a password attempt for email (see reserve): a locked
// email is a *LockedError. Fail closed: an attempt that cannot be counted
// is not tried, and is ErrBadCredentials like any failed one, never a 500
// (only an unavailable database or a gone caller is their own error).
func (s *Service) admit(ctx context.Context, email string) (*time.Time, error) {
	lock, err := s.reserve(ctx, email)
	var locked *LockedError
	switch {
	case err == nil:
		return lock, nil
	case errors.As(err, &locked):
		s.metrics.Throttled(metrics.ThrottledByAccount)
		s.log.LogAttrs(ctx, slog.LevelInfo, "throttled", reqlog.LoginLocked.Attr(), slog.String("by", "account"))
		return nil, err
	case errors.Is(err, db.ErrUnavailable), ctx.Err() != nil:
		return nil, err
	}
	s.log.LogAttrs(ctx, slog.LevelWarn, "login attempt not counted; refused", slog.String("error", err.Error()))
	return nil, ErrBadCredentials
}

// recordFailure records a wrong password of user's (name: login.failed,
// or password.check_failed for a signed-in user's check) and,
// if the attempt started a lock, the lock (login.locked, once per lock).
// Only attempts that reached the password check of a known user are
// recorded, so a flood writes at most the throttle's threshold of rows
// per lock window per account.
func (s *Service) recordFailure(ctx context.Context, name reqlog.Event, user uuid.UUID, reason string, lock *time.Time) error {
	return s.tx(ctx, func(q *db.Queries) error {
		if err := s.record(ctx, q, event{name: name, user: user, data: map[string]any{"reason": reason}}); err != nil {
			return err
		}
		if lock == nil {
			return nil
		}
		return s.record(ctx, q, event{name: reqlog.LoginLocked, user: user, data: map[string]any{"locked_until": lock.UTC().Truncate(time.Second)}})
	})
}

// unreserve takes back the attempt reserve counted for email, when its
// password was never compared (the hashing queue refused it). It runs even
// if the request has ended; failing, the attempt stays counted, as a
// failure would.
func (s *Service) unreserve(ctx context.Context, email string) {
	if s.opts.LoginFailureThreshold <= 0 {
		return
	}
	err := s.q.UndoLoginAttempt(context.WithoutCancel(ctx), db.UndoLoginAttemptParams{
		Email: email, Threshold: int32(s.opts.LoginFailureThreshold),
	})
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "login attempt refused a hashing slot stays counted", slog.String("error", err.Error()))
	}
}

// NeedsRehash reports whether user's hash has an older cost, so that
// UpgradeHash should follow a successful login.
func (s *Service) NeedsRehash(user db.User) bool { return s.hasher.NeedsRehash(user.PasswordHash) }

// UpgradeHash re-hashes pw at the current cost, if user's hash is still
// the one it was. Failure only means it is tried again at the next login.
func (s *Service) UpgradeHash(ctx context.Context, user db.User, pw string) {
	hash, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return
	}
	err = s.q.UpdateUserPasswordHash(ctx, db.UpdateUserPasswordHashParams{
		ID: user.ID, OldHash: user.PasswordHash, NewHash: hash, Now: s.now(),
	})
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "password hash upgrade failed", slog.String("error", err.Error()))
	}
}

// maxUserAgent is the most of a User-Agent a session keeps, in bytes.
const maxUserAgent = 256

// storable makes client-sent text fit for a text column: valid UTF-8 (bad
// bytes become U+FFFD; PostgreSQL refuses them) of at most n bytes, cut on
// a character boundary.
func storable(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Start creates a session for user and issues its first tokens.
func (s *Service) Start(ctx context.Context, user uuid.UUID, c Client) (Tokens, error) {
	return s.start(ctx, user, nil, c)
}

// start is Start; with hash set, the session is created only if user's
// password hash is still *hash (CreateLoginSession), else it is
// errPasswordChanged (a user deleted meanwhile too).
func (s *Service) start(ctx context.Context, user uuid.UUID, hash *string, c Client) (Tokens, error) {
	gen, err := newGenerationID()
	if err != nil {
		return Tokens{}, err
	}
	now := s.now()
	o := s.opts
	p := db.CreateSessionParams{
		UserID:        user,
		CurrentHash:   hashID(gen),
		Now:           now,
		IdleExpiresAt: now.Add(min(o.RefreshTTL, o.SessionLifetime)),
		ExpiresAt:     now.Add(o.SessionLifetime),
		UserAgent:     storable(c.UserAgent, maxUserAgent),
		ClientAddr:    storable(c.Addr, maxUserAgent),
	}
	var sess db.Session
	err = s.tx(ctx, func(q *db.Queries) error {
		var err error
		if hash == nil {
			sess, err = q.CreateSession(ctx, p)
		} else {
			sess, err = q.CreateLoginSession(ctx, db.CreateLoginSessionParams{
				UserID: p.UserID, CurrentHash: p.CurrentHash, Now: p.Now, IdleExpiresAt: p.IdleExpiresAt,
				ExpiresAt: p.ExpiresAt, UserAgent: p.UserAgent, ClientAddr: p.ClientAddr, PasswordHash: *hash,
			})
			if errors.Is(err, db.ErrNotFound) {
				return errPasswordChanged
			}
		}
		if err != nil {
			return fmt.Errorf("create session: %w", err)
		}
		return s.recordCreated(ctx, q, sess)
	})
	if err != nil {
		return Tokens{}, err
	}
	toks, err := s.issue(ctx, sess, gen, "")
	if err != nil {
		return Tokens{}, err
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "login", reqlog.SessionCreated.Attr(), slog.String("user_id", user.String()),
		slog.String("session_id", sess.ID.String()))
	return toks, nil
}
