package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/onetime"
	"github.com/authd/authd/internal/reqlog"
	"github.com/authd/authd/internal/totp"
)

// Two-factor authentication: a TOTP factor (RFC 6238) with recovery codes.
// Every code is checked against the per-account MFA throttle first
// (mfa_login.go), and accepted by one compare-and-set in the transaction
// of what it does, with the user locked first.

// Errors of the two-factor operations, for errors.Is or errors.As.
var (
	// ErrMFAUnavailable: no MFA_ENCRYPTION_KEYS, so no TOTP factor can
	// be made or checked.
	ErrMFAUnavailable = errors.New("two-factor authentication is not configured")
	// ErrMFAEnabled: enrolment while a factor is active (disable it first).
	ErrMFAEnabled = errors.New("two-factor authentication is already on")
	// ErrNoFactor: no pending factor to activate, or no active one to
	// disable or to regenerate recovery codes for.
	ErrNoFactor = errors.New("no such second factor")
	// ErrBadCode: a TOTP code that is wrong, outside the window or already
	// used, or a recovery code that is unknown or used; all alike.
	ErrBadCode = errors.New("invalid code")
	// ErrTicketInvalid: a login ticket that is unknown, expired, used or
	// out of attempts; all alike. The client starts the login again.
	ErrTicketInvalid = errors.New("invalid or expired login ticket")
	// ErrReauthRequired: the operation needs a recent authentication
	// (within Options.ReauthWindow): call Reauthenticate first.
	ErrReauthRequired = errors.New("recent authentication required")
	// ErrAAL2Required: the operation needs a session that passed the
	// second factor (aal 2), or a code with the request.
	ErrAAL2Required = errors.New("second factor required")
	// ErrMFARequired: a right password for an account with a second
	// factor; Login returns it as *MFARequired.
	ErrMFARequired = errors.New("second factor required to log in")
)

// MFARequired is Login's answer to the right password of an account with
// an active second factor: no session and no tokens, only a login ticket
// for LoginMFA. errors.Is(err, ErrMFARequired) holds.
type MFARequired struct {
	User      db.User
	Ticket    string    // the raw ticket: only its holder has it
	ExpiresAt time.Time // Options.MFATicketTTL after the login
}

func (e *MFARequired) Error() string        { return ErrMFARequired.Error() }
func (e *MFARequired) Is(target error) bool { return target == ErrMFARequired }

// MFALockedError: too many wrong second-factor codes for this account;
// try again after RetryAfter. A new login does not lift it.
type MFALockedError struct {
	RetryAfter time.Duration
}

func (e *MFALockedError) Error() string {
	return fmt.Sprintf("second factor locked for %s", e.RetryAfter)
}

// The RFC 8176 authentication methods a session records.
const (
	AMRPassword = "pwd" // a password
	AMROTP      = "otp" // a one-time password: a TOTP code or a recovery code
)

// Defaults of the two-factor options.
const (
	DefaultMFATicketTTL      = 5 * time.Minute
	DefaultMFATicketAttempts = 5
	DefaultReauthWindow      = 10 * time.Minute
	DefaultMFAIssuer         = "authd"
	// RecoveryCodeCount is how many recovery codes a set has.
	RecoveryCodeCount = 10
	// recoveryLow: a mail tells the owner when this many or fewer are left.
	recoveryLow = 2
)

// Reasons sessions end for a two-factor change.
const (
	ReasonMFAEnabled   Reason = "mfa_enabled"        // every other session, as a factor is activated
	ReasonMFADisabled  Reason = "mfa_disabled"       // every other session, as the user turns it off
	ReasonRecoveryCode Reason = "recovery_code_used" // every other session, at a login with a recovery code
	ReasonMFAReset     Reason = "mfa_reset_by_admin" // every session, at authd user mfa-reset
	ReasonPasskeyGone  Reason = "passkey_removed"    // every other session, as a passkey is removed
)

// Enrolment is a new TOTP factor's secret, shown once: Secret (base32,
// to type in) and URI (otpauth://, for a QR code the client draws).
type Enrolment struct {
	Secret string
	URI    string
}

// MFAStatus is what a user sees of their second factor.
type MFAStatus struct {
	Enabled       bool // an active TOTP factor
	Pending       bool // an enrolment waiting for its first code
	RecoveryCodes int  // unused recovery codes left
	Passkeys      int  // passkeys (passkey.go): one turns two-factor on too
}

// recent reports whether a's session proved its user within the
// reauthentication window.
func (s *Service) recent(a Auth) bool {
	return !a.AuthTime.IsZero() && s.now().Sub(a.AuthTime) <= s.opts.reauthWindow()
}

func (o Options) reauthWindow() time.Duration {
	if o.ReauthWindow > 0 {
		return o.ReauthWindow
	}
	return DefaultReauthWindow
}

func (o Options) ticketTTL() time.Duration {
	if o.MFATicketTTL > 0 {
		return o.MFATicketTTL
	}
	return DefaultMFATicketTTL
}

func (o Options) ticketAttempts() int {
	if o.MFATicketAttempts > 0 {
		return o.MFATicketAttempts
	}
	return DefaultMFATicketAttempts
}

func (o Options) issuer() string {
	if o.MFAIssuer != "" {
		return o.MFAIssuer
	}
	return DefaultMFAIssuer
}

// factorAD is the associated data a factor's secret is sealed with: its
// row's id and its user's id.
func factorAD(id, user uuid.UUID) []byte { return append(id[:], user[:]...) }

// EnrolTOTP starts a TOTP enrolment for a's user: a new secret, sealed,
// in a pending factor (replacing a pending one), returned once. It needs
// a recent authentication (ErrReauthRequired) and no active factor
// (ErrMFAEnabled). The factor counts only once ActivateTOTP has a code.
func (s *Service) EnrolTOTP(ctx context.Context, a Auth) (Enrolment, error) {
	if s.mfaKeys == nil {
		return Enrolment{}, ErrMFAUnavailable
	}
	if !s.recent(a) {
		return Enrolment{}, ErrReauthRequired
	}
	secret := totp.NewSecret()
	var account string
	err := s.tx(ctx, func(q *db.Queries) error {
		user, err := q.LockUser(ctx, a.User.ID)
		if err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
		if user.MfaEnabled { // by TOTP, or by passkeys only (passkey.go), which a TOTP factor may join
			switch f, err := q.GetUserFactor(ctx, db.GetUserFactorParams{UserID: user.ID, Kind: kindTOTP}); {
			case err == nil && f.Status == "active":
				return ErrMFAEnabled
			case err != nil && !errors.Is(err, db.ErrNotFound):
				return fmt.Errorf("get factor: %w", err)
			}
		}
		if _, err := q.DeletePendingFactor(ctx, db.DeletePendingFactorParams{UserID: user.ID, Kind: kindTOTP}); err != nil {
			return fmt.Errorf("delete pending factor: %w", err)
		}
		id := uuid.New()
		sealed, keyID := s.mfaKeys.Seal(secret, factorAD(id, user.ID))
		_, err = q.CreateFactor(ctx, db.CreateFactorParams{ID: id, UserID: user.ID, Kind: kindTOTP, Secret: sealed, KeyID: keyID, Now: s.now()})
		if err != nil {
			return fmt.Errorf("create factor: %w", err)
		}
		account = user.Email
		return s.record(ctx, q, event{name: reqlog.MFAEnrolmentStarted, user: user.ID, sessions: []uuid.UUID{a.Session},
			data: map[string]any{"factor": kindTOTP}})
	})
	if err != nil {
		return Enrolment{}, err
	}
	uri, err := totp.URI(s.opts.issuer(), account, secret)
	if err != nil {
		return Enrolment{}, err
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "mfa enrolment started", reqlog.MFAEnrolmentStarted.Attr(), slog.String("user_id", a.User.ID.String()))
	return Enrolment{Secret: totp.Base32(secret), URI: uri}, nil
}

// kindTOTP is mfa_factors.kind of a TOTP factor.
const kindTOTP = "totp"

// ActivateTOTP checks code against a's pending factor and, if it is
// right, activates the factor, spending the code's step (so the same code
// cannot then log in), in one transaction: a new set of recovery codes
// (returned, shown once), the user's other sessions ended, a's session
// raised to aal 2 with a fresh auth_time, and a notice mailed. A wrong or
// used code is ErrBadCode and counts against the MFA throttle
// (*MFALockedError); no pending factor is ErrNoFactor.
func (s *Service) ActivateTOTP(ctx context.Context, a Auth, code string) ([]string, error) {
	if s.mfaKeys == nil {
		return nil, ErrMFAUnavailable
	}
	if err := s.reserveMFA(ctx, a.User.ID); err != nil {
		return nil, err
	}
	var codes []string
	var revoked int64
	err := s.tx(ctx, func(q *db.Queries) error {
		user, err := q.LockUser(ctx, a.User.ID)
		if err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
		f, err := q.GetUserFactor(ctx, db.GetUserFactorParams{UserID: user.ID, Kind: kindTOTP})
		switch {
		case errors.Is(err, db.ErrNotFound):
			return ErrNoFactor
		case err != nil:
			return fmt.Errorf("get factor: %w", err)
		case f.Status != "pending":
			return ErrMFAEnabled
		}
		step, err := s.matchTOTP(f, code)
		if err != nil {
			return err
		}
		n, err := q.ActivateFactor(ctx, db.ActivateFactorParams{ID: f.ID, Now: s.now(), Step: step})
		if err != nil {
			return fmt.Errorf("activate factor: %w", err)
		}
		if n == 0 {
			return ErrBadCode
		}
		if err := q.SetUserMFA(ctx, db.SetUserMFAParams{ID: user.ID, MfaEnabled: true, Now: s.now()}); err != nil {
			return fmt.Errorf("set mfa: %w", err)
		}
		if codes, err = s.newRecoveryCodes(ctx, q, user.ID); err != nil {
			return err
		}
		if revoked, err = s.endSessions(ctx, q, user.ID, a.Session, ReasonMFAEnabled); err != nil {
			return err
		}
		if _, err := q.ReauthenticateSession(ctx, db.ReauthenticateSessionParams{
			ID: a.Session, UserID: user.ID, Now: s.now(), Aal: 2, Amr: []string{AMROTP},
		}); err != nil {
			return fmt.Errorf("raise session: %w", err)
		}
		if err := q.ClearMFAFailures(ctx, user.ID); err != nil {
			return fmt.Errorf("clear mfa failures: %w", err)
		}
		if err := s.record(ctx, q, event{name: reqlog.MFAEnabled, user: user.ID, data: map[string]any{"factor": kindTOTP}}); err != nil {
			return err
		}
		return s.queue(ctx, q, to(mail.KindMFAEnabled, user))
	})
	if errors.Is(err, ErrBadCode) {
		s.metrics.MFA(metrics.MFABadCode)
	}
	if err != nil {
		return nil, err
	}
	s.metrics.SessionsRevoked(string(ReasonMFAEnabled), revoked)
	s.metrics.MFA(metrics.MFAEnabled)
	s.log.LogAttrs(ctx, slog.LevelInfo, "mfa enabled", reqlog.MFAEnabled.Attr(), slog.String("user_id", a.User.ID.String()))
	return codes, nil
}

// MFAStatus is user's second factor as they see it.
func (s *Service) MFAStatus(ctx context.Context, user uuid.UUID) (MFAStatus, error) {
	var st MFAStatus
	n, err := s.q.CountUserPasskeys(ctx, user)
	if err != nil {
		return st, fmt.Errorf("count passkeys: %w", err)
	}
	st.Passkeys = int(n)
	f, err := s.q.GetUserFactor(ctx, db.GetUserFactorParams{UserID: user, Kind: kindTOTP})
	switch {
	case errors.Is(err, db.ErrNotFound):
	case err != nil:
		return st, fmt.Errorf("get factor: %w", err)
	default:
		st.Enabled, st.Pending = f.Status == "active", f.Status == "pending"
	}
	if st.Enabled || st.Passkeys > 0 {
		n, err := s.q.CountRecoveryCodes(ctx, user)
		if err != nil {
			return st, fmt.Errorf("count recovery codes: %w", err)
		}
		st.RecoveryCodes = int(n)
	}
	return st, nil
}

// DisableMFA removes a's user's second factor and recovery codes. With
// code empty it needs a session at aal 2 (ErrAAL2Required) that
// authenticated recently (ErrReauthRequired); otherwise code (TOTP or
// recovery) must be right (ErrBadCode, counted by the MFA throttle). The
// user's other sessions end, login tickets in flight die, and a notice
// is mailed. No active factor is ErrNoFactor.
func (s *Service) DisableMFA(ctx context.Context, a Auth, code string) error {
	if code == "" {
		switch {
		case a.AAL < 2:
			return ErrAAL2Required
		case !s.recent(a):
			return ErrReauthRequired
		}
	} else if err := s.reserveMFA(ctx, a.User.ID); err != nil {
		return err
	}
	var revoked int64
	err := s.tx(ctx, func(q *db.Queries) error {
		user, err := q.LockUser(ctx, a.User.ID)
		if err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
		if !user.MfaEnabled {
			return ErrNoFactor
		}
		if code != "" {
			if _, err := s.checkCode(ctx, q, user, code); err != nil {
				return err
			}
		}
		if revoked, err = s.removeMFA(ctx, q, user, ReasonMFADisabled, a.Session); err != nil {
			return err
		}
		return s.queue(ctx, q, to(mail.KindMFADisabled, user))
	})
	if errors.Is(err, ErrBadCode) {
		s.metrics.MFA(metrics.MFABadCode)
		if rerr := s.recordNow(ctx, event{name: reqlog.MFAFailed, user: a.User.ID, sessions: []uuid.UUID{a.Session},
			data: map[string]any{"at": "disable"}}); rerr != nil {
			return rerr
		}
	}
	if err != nil {
		return err
	}
	s.metrics.SessionsRevoked(string(ReasonMFADisabled), revoked)
	s.metrics.MFA(metrics.MFADisabled)
	s.log.LogAttrs(ctx, slog.LevelInfo, "mfa disabled", reqlog.MFADisabled.Attr(), slog.String("user_id", a.User.ID.String()))
	return nil
}

// removeMFA deletes user's factors (passkeys too), recovery codes, MFA failures and
// login tickets, clears users.mfa_enabled and ends the user's sessions
// but keep (uuid.Nil: all), in q's transaction with the user locked. It
// returns how many sessions ended.
func (s *Service) removeMFA(ctx context.Context, q *db.Queries, user db.User, why Reason, keep uuid.UUID) (int64, error) {
	now := s.now()
	if _, err := q.DeleteUserFactors(ctx, user.ID); err != nil {
		return 0, fmt.Errorf("delete factors: %w", err)
	}
	if _, err := q.DeleteRecoveryCodes(ctx, user.ID); err != nil {
		return 0, fmt.Errorf("delete recovery codes: %w", err)
	}
	if err := s.dropPasskeys(ctx, q, user.ID); err != nil {
		return 0, err
	}
	if err := q.SetUserMFA(ctx, db.SetUserMFAParams{ID: user.ID, MfaEnabled: false, Now: now}); err != nil {
		return 0, fmt.Errorf("set mfa: %w", err)
	}
	if err := q.ClearMFAFailures(ctx, user.ID); err != nil {
		return 0, fmt.Errorf("clear mfa failures: %w", err)
	}
	if _, err := s.secrets.DropUser(ctx, q, user.ID, onetime.LoginTicket); err != nil {
		return 0, err
	}
	if err := s.record(ctx, q, event{name: reqlog.MFADisabled, user: user.ID, data: map[string]any{"reason": string(why)}}); err != nil {
		return 0, err
	}
	return s.endSessions(ctx, q, user.ID, keep, why)
}

// RegenerateRecoveryCodes replaces a's user's recovery codes with a new
// set, returned once. It needs aal 2 (ErrAAL2Required) and a recent
// authentication (ErrReauthRequired); no active factor is ErrNoFactor.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, a Auth) ([]string, error) {
	switch {
	case a.AAL < 2:
		return nil, ErrAAL2Required
	case !s.recent(a):
		return nil, ErrReauthRequired
	}
	var codes []string
	err := s.tx(ctx, func(q *db.Queries) error {
		user, err := q.LockUser(ctx, a.User.ID)
		if err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
		if !user.MfaEnabled {
			return ErrNoFactor
		}
		if codes, err = s.newRecoveryCodes(ctx, q, user.ID); err != nil {
			return err
		}
		return s.record(ctx, q, event{name: reqlog.MFARecoveryCodesNew, user: user.ID, sessions: []uuid.UUID{a.Session}})
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// MFAReset removes the second factor of the user of email (factors,
// recovery codes, MFA failures, login tickets) and ends all their
// sessions, for authd user mfa-reset; the owner is mailed. It returns the
// user and how many sessions ended. An unknown email is ErrNoUser.
func (a *Admin) MFAReset(ctx context.Context, email string) (db.User, int64, error) {
	var user db.User
	var revoked int64
	err := a.s.tx(ctx, func(q *db.Queries) error {
		var err error
		if user, err = a.lock(ctx, q, email); err != nil {
			return err
		}
		if revoked, err = a.s.removeMFA(ctx, q, user, ReasonMFAReset, uuid.Nil); err != nil {
			return err
		}
		return a.s.queue(ctx, q, to(mail.KindMFADisabled, user))
	})
	if err != nil {
		return db.User{}, 0, err
	}
	user.MfaEnabled = false
	a.s.metrics.SessionsRevoked(string(ReasonMFAReset), revoked)
	a.s.metrics.MFA(metrics.MFAReset)
	return user, revoked, nil
}
