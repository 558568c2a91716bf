package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/onetime"
	"github.com/authd/authd/internal/reqlog"
	"github.com/authd/authd/internal/totp"
)

// The per-account MFA throttle (mfa_throttle), separate from the password
// throttle: every code is counted as a failure before it is checked
// (reserveMFA), a success clears the count. From mfaThreshold consecutive
// failures on, the account's codes are locked for mfaLockBase, doubling,
// at most mfaLockMax; from mfaHardLimit on (NIST SP 800-63B: at most 100
// consecutive failures), for mfaHardLock each. The count is forgotten
// only after a success or mfaResetAfter of quiet, never by a new login.
const (
	mfaThreshold  = 5
	mfaLockBase   = time.Second
	mfaLockMax    = 15 * time.Minute
	mfaHardLimit  = 100
	mfaHardLock   = 24 * time.Hour
	mfaResetAfter = 24 * time.Hour
)

// reserveMFA counts a second-factor attempt of user before its code is
// checked, in one statement of its own (it stays counted whatever the
// check's transaction does); a locked account is *MFALockedError.
func (s *Service) reserveMFA(ctx context.Context, user uuid.UUID) error {
	now := s.now()
	_, err := s.q.ReserveMFAAttempt(ctx, db.ReserveMFAAttemptParams{
		UserID: user, Now: now, Threshold: mfaThreshold, HardLimit: mfaHardLimit,
		BaseLock: mfaLockBase.Seconds(), MaxLock: mfaLockMax.Seconds(), HardLock: mfaHardLock.Seconds(),
		ResetAfter: mfaResetAfter.Seconds(),
	})
	if err == nil {
		return nil
	}
	if !errors.Is(err, db.ErrNotFound) {
		return fmt.Errorf("reserve mfa attempt: %w", err)
	}
	after := time.Second
	if t, err := s.q.GetMFAThrottle(ctx, user); err == nil && t.LockedUntil != nil && t.LockedUntil.After(now) {
		after = t.LockedUntil.Sub(now)
	}
	s.metrics.Throttled(metrics.ThrottledByMFA)
	s.log.LogAttrs(ctx, slog.LevelInfo, "throttled", reqlog.MFALocked.Attr(), slog.String("by", "mfa"), slog.String("user_id", user.String()))
	return &MFALockedError{RetryAfter: after}
}

// matchTOTP opens f's secret and returns the step code matches now; a
// code that matches no step in the window is ErrBadCode.
func (s *Service) matchTOTP(f db.MfaFactor, code string) (int64, error) {
	if s.mfaKeys == nil {
		return 0, ErrMFAUnavailable
	}
	secret, err := s.mfaKeys.Open(f.Secret, f.KeyID, factorAD(f.ID, f.UserID))
	if err != nil {
		return 0, fmt.Errorf("open factor %s: %w", f.ID, err)
	}
	step, ok := totp.Match(secret, code, s.now())
	if !ok {
		return 0, ErrBadCode
	}
	return step, nil
}

// How a code was checked.
type codeKind int

const (
	codeTOTP     codeKind = iota + 1 // a TOTP code of the active factor
	codeRecovery                     // a recovery code
)

// checkCode accepts code for user, locked in q's transaction: a TOTP
// code (six digits) by the compare-and-set of its step on the active
// factor (AcceptFactorStep: a step is accepted once), anything else as a
// recovery code (useRecoveryCode). Wrong, replayed and used codes are all
// ErrBadCode.
func (s *Service) checkCode(ctx context.Context, q *db.Queries, user db.User, code string) (codeKind, error) {
	if !totp.LooksLikeCode(code) {
		return codeRecovery, s.useRecoveryCode(ctx, q, user.ID, code)
	}
	f, err := q.GetUserFactor(ctx, db.GetUserFactorParams{UserID: user.ID, Kind: kindTOTP})
	switch {
	case errors.Is(err, db.ErrNotFound):
		return 0, ErrBadCode
	case err != nil:
		return 0, fmt.Errorf("get factor: %w", err)
	case f.Status != "active":
		return 0, ErrBadCode
	}
	step, err := s.matchTOTP(f, code)
	if err != nil {
		return 0, err
	}
	n, err := q.AcceptFactorStep(ctx, db.AcceptFactorStepParams{ID: f.ID, Step: step})
	switch {
	case err != nil:
		return 0, fmt.Errorf("accept step: %w", err)
	case n == 0:
		return 0, ErrBadCode // this step or a later one was accepted before
	}
	return codeTOTP, nil
}

// loginTicket ends Login for a user with a second factor: no session, a
// login ticket (onetime.LoginTicket, stored hashed) for LoginMFA.
func (s *Service) loginTicket(ctx context.Context, user db.User, email string) (Tokens, db.User, error) {
	tok, err := s.secrets.MintFor(ctx, s.q, onetime.LoginTicket, user.ID, user.Email, s.opts.ticketTTL())
	if errors.Is(err, onetime.ErrNoUser) {
		return Tokens{}, db.User{}, ErrBadCredentials
	}
	if err != nil {
		return Tokens{}, db.User{}, err
	}
	if err := s.clearFailures(ctx, email); err != nil {
		return Tokens{}, db.User{}, err
	}
	s.metrics.Login(loginMFARequired)
	s.log.LogAttrs(ctx, slog.LevelInfo, "login needs a second factor", reqlog.LoginMFARequired.Attr(), slog.String("user_id", user.ID.String()))
	return Tokens{}, user, &MFARequired{User: user, Ticket: tok.Raw, ExpiresAt: tok.ExpiresAt}
}

// loginMFARequired is the outcome label of a right password that needs
// a second factor.
const loginMFARequired = metrics.LoginMFARequired

// LoginMFA is the second step of a login with a second factor: the
// ticket Login gave (*MFARequired) and a TOTP code or a recovery code.
// It answers as Login does: a new session and its tokens, the session at
// aal 2 with amr ["pwd","otp"] and auth_time now. Recovery codes are
// "otp" too (RFC 8176 has no value of its own for a look-up secret; NIST
// SP 800-63B counts one as a second factor); using one ends the user's
// other sessions and mails the owner.
//
// Each call counts an attempt on the ticket (after
// Options.MFATicketAttempts it is dead: ErrTicketInvalid, as are unknown,
// expired and used tickets) and on the account's MFA throttle
// (*MFALockedError). A wrong, used or replayed code is ErrBadCode and
// leaves the ticket for another try. The ticket, the code and the session
// are decided in one transaction with the user locked: of any number of
// concurrent logins with one code, one gets a session.
func (s *Service) LoginMFA(ctx context.Context, ticket, code string, c Client) (Tokens, db.User, error) {
	userID, err := s.secrets.Attempt(ctx, s.q, onetime.LoginTicket, ticket, s.opts.ticketAttempts())
	if errors.Is(err, onetime.ErrInvalid) {
		s.metrics.Login(loginMFABadTicket)
		return Tokens{}, db.User{}, ErrTicketInvalid
	}
	if err != nil {
		return Tokens{}, db.User{}, err
	}
	if err := s.reserveMFA(ctx, userID); err != nil {
		return Tokens{}, db.User{}, err
	}
	gen, err := newGenerationID()
	if err != nil {
		return Tokens{}, db.User{}, err
	}
	var (
		sess    db.Session
		user    db.User
		kind    codeKind
		revoked int64
	)
	err = s.tx(ctx, func(q *db.Queries) error {
		sp, err := s.secrets.Spend(ctx, q, onetime.LoginTicket, ticket)
		if errors.Is(err, onetime.ErrInvalid) {
			return ErrTicketInvalid
		}
		if err != nil {
			return err
		}
		user = sp.User
		if kind, err = s.checkCode(ctx, q, user, code); err != nil {
			return err // rolled back: the ticket stays, its attempt counted
		}
		now := s.now()
		o := s.opts
		sess, err = q.CreateMFASession(ctx, db.CreateMFASessionParams{
			UserID: user.ID, CurrentHash: hashID(gen), Now: now,
			IdleExpiresAt: now.Add(min(o.RefreshTTL, o.SessionLifetime)), ExpiresAt: now.Add(o.SessionLifetime),
			UserAgent: storable(c.UserAgent, maxUserAgent), ClientAddr: storable(c.Addr, maxUserAgent),
			Amr: []string{AMRPassword, AMROTP},
		})
		if err != nil {
			return fmt.Errorf("create session: %w", err)
		}
		if err := s.recordCreated(ctx, q, sess); err != nil {
			return err
		}
		if err := q.ClearMFAFailures(ctx, user.ID); err != nil {
			return fmt.Errorf("clear mfa failures: %w", err)
		}
		if kind == codeRecovery {
			revoked, err = s.afterRecovery(ctx, q, user, sess.ID)
		}
		return err
	})
	switch {
	case errors.Is(err, ErrBadCode):
		s.metrics.Login(loginMFABadCode)
		s.metrics.MFA(metrics.MFABadCode)
		s.log.LogAttrs(ctx, slog.LevelInfo, "login failed", reqlog.MFAFailed.Attr(), slog.String("reason", "wrong second factor"),
			slog.String("user_id", userID.String()))
		if rerr := s.recordNow(ctx, event{name: reqlog.MFAFailed, user: userID, data: map[string]any{"at": "login"}}); rerr != nil {
			return Tokens{}, db.User{}, rerr
		}
		return Tokens{}, db.User{}, err
	case errors.Is(err, ErrTicketInvalid):
		s.metrics.Login(loginMFABadTicket)
		return Tokens{}, db.User{}, err
	case err != nil:
		return Tokens{}, db.User{}, err
	}
	s.metrics.SessionsRevoked(string(ReasonRecoveryCode), revoked)
	if kind == codeRecovery {
		s.metrics.MFA(metrics.MFARecoveryUsed)
	}
	toks, err := s.issue(ctx, sess, gen, user.Role)
	if err != nil {
		return Tokens{}, db.User{}, err
	}
	if toks.Device, err = s.deviceLogin(ctx, user, c); err != nil {
		return Tokens{}, db.User{}, err
	}
	s.metrics.Login(metrics.LoginSuccess)
	s.log.LogAttrs(ctx, slog.LevelInfo, "login", reqlog.SessionCreated.Attr(), slog.String("user_id", user.ID.String()),
		slog.String("session_id", sess.ID.String()), slog.Bool("recovery_code", kind == codeRecovery))
	return toks, user, nil
}

// Outcome labels of the second step.
const (
	loginMFABadCode   = metrics.LoginMFABadCode
	loginMFABadTicket = metrics.LoginMFABadTicket
)

// Reauthenticate refreshes the auth_time of a's session (step-up), with
// the user's password (pw) or, with code set, a second-factor code. A
// password goes through the login throttle (*LockedError) and a wrong one
// is ErrBadCredentials; a code goes through the MFA throttle
// (*MFALockedError), a wrong one is ErrBadCode, and a right one raises
// the session to aal 2. A recovery code ends the other sessions and
// mails the owner, as at login. A session that ended meanwhile is
// ErrInvalid.
func (s *Service) Reauthenticate(ctx context.Context, a Auth, pw, code string) error {
	if code != "" {
		return s.reauthCode(ctx, a, code)
	}
	if err := validLogin(a.User.Email, pw); err != nil {
		return ErrBadCredentials
	}
	if err := s.checkPassword(ctx, a, pw); err != nil {
		return err
	}
	err := s.tx(ctx, func(q *db.Queries) error {
		n, err := q.ReauthenticateSession(ctx, db.ReauthenticateSessionParams{
			ID: a.Session, UserID: a.User.ID, Now: s.now(), Aal: 1, Amr: []string{AMRPassword},
		})
		switch {
		case err != nil:
			return fmt.Errorf("reauthenticate session: %w", err)
		case n == 0:
			return ErrInvalid
		}
		return s.record(ctx, q, event{name: reqlog.SessionReauthenticated, user: a.User.ID, sessions: []uuid.UUID{a.Session},
			data: map[string]any{"with": AMRPassword}})
	})
	if err != nil {
		return err
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "reauthenticated", reqlog.SessionReauthenticated.Attr(), slog.String("user_id", a.User.ID.String()),
		slog.String("session_id", a.Session.String()), slog.String("with", "password"))
	return nil
}

// reauthCode is Reauthenticate with a code.
func (s *Service) reauthCode(ctx context.Context, a Auth, code string) error {
	if err := s.reserveMFA(ctx, a.User.ID); err != nil {
		return err
	}
	var (
		revoked int64
		kind    codeKind
	)
	err := s.tx(ctx, func(q *db.Queries) error {
		user, err := q.LockUser(ctx, a.User.ID)
		if err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
		kind, err = s.checkCode(ctx, q, user, code)
		if err != nil {
			return err
		}
		n, err := q.ReauthenticateSession(ctx, db.ReauthenticateSessionParams{
			ID: a.Session, UserID: user.ID, Now: s.now(), Aal: 2, Amr: []string{AMROTP},
		})
		switch {
		case err != nil:
			return fmt.Errorf("reauthenticate session: %w", err)
		case n == 0:
			return ErrInvalid
		}
		if err := q.ClearMFAFailures(ctx, user.ID); err != nil {
			return fmt.Errorf("clear mfa failures: %w", err)
		}
		if err := s.record(ctx, q, event{name: reqlog.SessionReauthenticated, user: user.ID, sessions: []uuid.UUID{a.Session},
			data: map[string]any{"with": AMROTP}}); err != nil {
			return err
		}
		if kind == codeRecovery {
			revoked, err = s.afterRecovery(ctx, q, user, a.Session)
		}
		return err
	})
	if errors.Is(err, ErrBadCode) {
		s.metrics.MFA(metrics.MFABadCode)
		s.log.LogAttrs(ctx, slog.LevelInfo, "reauthentication failed", reqlog.MFAFailed.Attr(), slog.String("reason", "wrong second factor"),
			slog.String("user_id", a.User.ID.String()))
		if rerr := s.recordNow(ctx, event{name: reqlog.MFAFailed, user: a.User.ID, sessions: []uuid.UUID{a.Session},
			data: map[string]any{"at": "reauthentication"}}); rerr != nil {
			return rerr
		}
	}
	if err != nil {
		return err
	}
	s.metrics.SessionsRevoked(string(ReasonRecoveryCode), revoked)
	if kind == codeRecovery {
		s.metrics.MFA(metrics.MFARecoveryUsed)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "reauthenticated", reqlog.SessionReauthenticated.Attr(), slog.String("user_id", a.User.ID.String()),
		slog.String("session_id", a.Session.String()), slog.String("with", "second factor"), slog.Bool("recovery_code", kind == codeRecovery))
	return nil
}
