// Package session is authd's account and session lifecycle: registration,
// login with its throttle, sessions and their refresh rotation, revocation
// and authentication. It is plain Go over the database queries, the token
// signer and the password hasher; it knows nothing of HTTP.
package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/onetime"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/password/policy"
	"github.com/authd/authd/internal/reqlog"
	"github.com/authd/authd/internal/token"
	"github.com/authd/authd/internal/totp"
)

// Errors callers tell apart with errors.Is or errors.As. Anything else is
// a fault: db.ErrUnavailable, password.ErrBusy, a context error, or internal.
var (
	// ErrBadCredentials: unknown email, wrong password, or a password too
	// long to be one; all alike.
	ErrBadCredentials = errors.New("invalid email or password")
	// ErrEmailTaken: registration for an email that has an account.
	ErrEmailTaken = errors.New("email already registered")
	// ErrInvalid: a token that is not (or no longer) valid for a live session.
	ErrInvalid = errors.New("invalid or expired session")
	// ErrReused: a refresh token replayed after its rotation; the session
	// has been revoked. It wraps ErrInvalid.
	ErrReused = fmt.Errorf("refresh token reused: %w", ErrInvalid)
	// ErrNotFound: no such session of this user.
	ErrNotFound = errors.New("session not found")

	// ErrTokenInvalid: a mailed token (a link or a code) that is unknown,
	// expired, used, of another purpose, or stale (sent to an address the
	// user no longer has); all alike. Each flow's error wraps it.
	ErrTokenInvalid = errors.New("invalid or expired token")
	// ErrBadResetToken: ResetPassword's ErrTokenInvalid.
	ErrBadResetToken = fmt.Errorf("reset token: %w", ErrTokenInvalid)
	// ErrBadVerificationCode: VerifyEmail's ErrTokenInvalid.
	ErrBadVerificationCode = fmt.Errorf("verification code: %w", ErrTokenInvalid)
	// ErrBadEmailChangeToken: ConfirmEmailChange's ErrTokenInvalid.
	ErrBadEmailChangeToken = fmt.Errorf("email change token: %w", ErrTokenInvalid)
	// ErrAlreadyVerified: a valid verification code of a user whose address
	// is already verified (the code is used up all the same).
	ErrAlreadyVerified = errors.New("email already verified")
	// ErrEmailNotVerified: the right password, but VerificationRequired
	// and the address is not verified yet.
	ErrEmailNotVerified = errors.New("email not verified")
	// ErrSamePassword: a password change to the current password.
	ErrSamePassword = errors.New("new password equals the current one")
	// ErrSameEmail: an email change to the current address.
	ErrSameEmail = errors.New("new email equals the current one")
	// ErrLastAdmin: the only admin cannot delete their account.
	ErrLastAdmin = errors.New("the last admin cannot be deleted")
)

// LockedError: the email is locked after too many failed logins.
type LockedError struct {
	RetryAfter time.Duration
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("login locked for %s", e.RetryAfter)
}

// Options are the lifecycle's policy; cmd/authd copies them from config.
type Options struct {
	RefreshTTL      time.Duration // idle timeout, renewed by each refresh
	SessionLifetime time.Duration // absolute lifetime, never extended
	ReuseGrace      time.Duration // how long a just-rotated refresh token still works; 0: not at all

	// From LoginFailureThreshold consecutive failures on, an email is
	// locked for LoginLockBase, doubling with each further failure, at most
	// LoginLockMax. Threshold 0 turns the throttle off.
	LoginFailureThreshold int
	LoginLockBase         time.Duration
	LoginLockMax          time.Duration

	// Mail: the flows queue mails in the outbox (MAIL_TRANSPORT is not
	// off). Off, nothing is queued: no verification or reset mail, no
	// notice.
	Mail bool
	// Verification is EMAIL_VERIFICATION: whether registration mails a
	// verification link and whether login requires a verified address.
	// It takes Mail; the zero value is VerificationOff.
	Verification Verification
	// MailCooldown is the least time between two mails of one purpose to
	// one address (MAIL_COOLDOWN); 0: none.
	MailCooldown time.Duration
	// MailMaxPerHour caps the mails of one purpose to one address in an
	// hour (MAIL_MAX_PER_HOUR); 0: no cap.
	MailMaxPerHour int
	// HideExisting answers a registration of a taken address like that
	// of a new one (REGISTER_HIDE_EXISTING), and mails the owner a notice
	// instead. It needs Verification on (only then can both answers say
	// "we sent an email"); with VerificationOff it is ignored. In force,
	// it also makes login need a verified address, optional or required:
	// an unverified account's right password is answered like a wrong
	// one, or logging in would tell a new account from a taken address.
	HideExisting bool
	// Passwords is the policy every new password passes besides
	// ValidPassword (registration, reset, change, the operator's create
	// and set-password); nil: none.
	Passwords *policy.Policy

	// Two-factor authentication (mfa.go). MFAIssuer is the issuer of the
	// otpauth:// URIs (MFA_ISSUER; "": DefaultMFAIssuer). A login ticket
	// lives MFATicketTTL and takes MFATicketAttempts codes; an operation
	// that needs a recent authentication takes one within ReauthWindow.
	// Zero values take the Default* constants.
	MFAIssuer         string
	MFATicketTTL      time.Duration
	MFATicketAttempts int
	ReauthWindow      time.Duration

	// EventRetention is how long security events are kept (EVENT_RETENTION):
	// Purge deletes older ones; 0: DefaultEventRetention.
	EventRetention time.Duration
	// NewDeviceMail mails the owner at the first login from a device new
	// for the account (NEW_DEVICE_MAIL; device.go). It takes Mail.
	NewDeviceMail bool
	// RoleClaim puts the user's role in access tokens
	// (ACCESS_TOKEN_ROLE_CLAIM): at login, and at each refresh from the
	// rotation's own statement (RotateSessionWithRole).
	RoleClaim bool
	// Passkeys is the WebAuthn relying party (passkey.go); no RPID: off.
	Passkeys PasskeyOptions
}

// Verification is the email verification mode.
type Verification string

const (
	VerificationOff      Verification = "off"      // no verification mail; login as before
	VerificationOptional Verification = "optional" // a mail at registration; login allowed
	VerificationRequired Verification = "required" // a mail at registration; login refused until verified
)

// on reports whether registration sends a verification mail.
func (v Verification) on() bool { return v == VerificationOptional || v == VerificationRequired }

// Service runs the lifecycle. Its methods are safe for concurrent use.
type Service struct {
	pool    db.Pool       // for transactions
	timeout time.Duration // per statement
	q       *db.Queries   // over pool, bound by timeout
	tokens  *token.Signer
	hasher  *password.Hasher
	log     *slog.Logger
	metrics *metrics.Metrics // nil records nothing
	now     func() time.Time
	opts    Options
	// secrets spends one-time secrets; it mints only with a lifetime of
	// its caller's (Admin.ResetToken, login tickets), so it needs no
	// lifetimes.
	secrets *onetime.Store
	mfaKeys *totp.Keys // seals TOTP secrets; nil: no TOTP (ErrMFAUnavailable)
	// webhooks names the webhook endpoints that want an event (record).
	webhooks func(event string) []string
	// wa is the WebAuthn relying party; nil: passkeys off, for waErr if
	// Options.Passkeys did not make one.
	wa    *webauthn.WebAuthn
	waErr error
}

// Deps are what a Service works with. New binds DB (db.Bound) with
// DBTimeout, so every statement has a deadline and classified errors;
// transactions (db.InTx) are bound alike.
type Deps struct {
	DB        db.Pool       // a *pgxpool.Pool
	DBTimeout time.Duration // per statement; 0: none
	Tokens    *token.Signer
	Hasher    *password.Hasher
	Log       *slog.Logger
	Metrics   *metrics.Metrics
	Now       func() time.Time // nil: time.Now
	// MFAKeys seal and open TOTP secrets (MFA_ENCRYPTION_KEYS); nil turns
	// enrolment off, and a factor cannot be checked.
	MFAKeys *totp.Keys
	// Webhooks returns the webhook endpoints that want an event of a
	// name; each gets a delivery, written with the event. nil: none.
	Webhooks func(event string) []string
}

// New returns a Service.
func New(d Deps, o Options) *Service {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	s := &Service{pool: d.DB, timeout: d.DBTimeout, q: db.New(db.Bound(d.DB, d.DBTimeout)), tokens: d.Tokens, hasher: d.Hasher, log: reqlog.Logger(d.Log), metrics: d.Metrics, now: now, opts: o,
		secrets: onetime.New(onetime.Options{Now: now}), mfaKeys: d.MFAKeys, webhooks: d.Webhooks}
	s.wa, s.waErr = newRelyingParty(o.Passkeys)
	return s
}

// tx runs f in one transaction (see db.InTx).
func (s *Service) tx(ctx context.Context, f func(*db.Queries) error) error {
	return db.InTx(ctx, s.pool, s.timeout, f)
}

// Client describes where a login comes from, as shown in the session list.
type Client struct {
	UserAgent string
	Addr      string
	// Device is the device id the client sent (the device_id cookie), ""
	// for none; see device.go.
	Device string
}

// Tokens are what a client gets at login and at each refresh.
type Tokens struct {
	Access  string
	Refresh string
	// SessionEnd is the session's absolute end: the refresh cookie must
	// not outlive it.
	SessionEnd time.Time
	// Device is the device id the client should keep (a login's answer
	// sets the device_id cookie to it); "" after a refresh.
	Device string
}

// Auth is an authenticated caller: the user, the session, and the
// session's assurance. User.MfaEnabled says whether the account has an
// active second factor.
type Auth struct {
	User    db.User
	Session uuid.UUID
	// AAL is 1 for a password, 2 for a password and a second factor;
	// AMR the RFC 8176 methods ("pwd", "otp"); AuthTime when the user last
	// proved who they are in this session (login or Reauthenticate).
	AAL      int
	AMR      []string
	AuthTime time.Time
}

// Info is one live session as its owner sees it.
type Info struct {
	ID         uuid.UUID
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time // the earlier of the idle and the absolute end
	UserAgent  string
	ClientAddr string
}
