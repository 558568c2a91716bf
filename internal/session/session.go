// Package session is authd's account and session lifecycle: registration,
// login with its throttle, sessions and their refresh rotation, revocation
// and authentication. It is plain Go over the database queries, the token
// signer and the password hasher; it knows nothing of HTTP.
package session

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/token"
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
}

// Service runs the lifecycle. Its methods are safe for concurrent use.
type Service struct {
	q       *db.Queries
	tokens  *token.Signer
	hasher  *password.Hasher
	log     *slog.Logger
	metrics *metrics.Metrics // nil records nothing
	now     func() time.Time
	opts    Options
}

// Deps are what a Service works with. New binds DB (db.Bound) with
// DBTimeout, so every statement has a deadline and classified errors.
type Deps struct {
	DB        db.DBTX       // a pool
	DBTimeout time.Duration // per statement; 0: none
	Tokens    *token.Signer
	Hasher    *password.Hasher
	Log       *slog.Logger
	Metrics   *metrics.Metrics
	Now       func() time.Time // nil: time.Now
}

// New returns a Service.
func New(d Deps, o Options) *Service {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	return &Service{q: db.New(db.Bound(d.DB, d.DBTimeout)), tokens: d.Tokens, hasher: d.Hasher, log: d.Log, metrics: d.Metrics, now: now, opts: o}
}

// Client describes where a login comes from, as shown in the session list.
type Client struct {
	UserAgent string
	Addr      string
}

// Tokens are what a client gets at login and at each refresh.
type Tokens struct {
	Access  string
	Refresh string
	// SessionEnd is the session's absolute end: the refresh cookie must
	// not outlive it.
	SessionEnd time.Time
}

// Auth is an authenticated caller.
type Auth struct {
	User    db.User
	Session uuid.UUID
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
