package onetime

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
)

// Errors of the Store, for errors.Is.
var (
	// ErrInvalid: an unknown, expired, used or wrong-purpose secret; all alike.
	ErrInvalid = errors.New("invalid or expired one-time token")
	// ErrNoUser: the user to mint a secret for no longer exists.
	ErrNoUser = errors.New("the user no longer exists")
)

// Options configure a Store.
type Options struct {
	Lifetimes Lifetimes        // of the purposes Mint mints; others need MintFor
	Now       func() time.Time // nil: time.Now
}

// Store mints, spends and drops one-time secrets. Every method takes the
// queries to run on, so that a spend is part of the caller's transaction.
// It is safe for concurrent use.
type Store struct {
	life Lifetimes
	now  func() time.Time
}

// New returns a Store.
func New(o Options) *Store {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return &Store{life: maps.Clone(o.Lifetimes), now: now}
}

// Lifetime is p's lifetime; 0 if it has none.
func (s *Store) Lifetime(p Purpose) time.Duration { return s.life[p] }

// Token is a minted secret. Raw goes to its holder only.
type Token struct {
	Raw       string
	ExpiresAt time.Time
}

// Mint stores a fresh secret of p for user, bound to email (the address
// it is sent to), valid for p's lifetime, and returns it. A user deleted
// meanwhile is ErrNoUser.
func (s *Store) Mint(ctx context.Context, q *db.Queries, p Purpose, user uuid.UUID, email string) (Token, error) {
	ttl := s.life[p]
	if ttl <= 0 {
		return Token{}, fmt.Errorf("mint token: no lifetime for %q", p)
	}
	return s.MintFor(ctx, q, p, user, email, ttl)
}

// MintFor is Mint with a lifetime of the caller's (the operator's reset
// link).
func (s *Store) MintFor(ctx context.Context, q *db.Queries, p Purpose, user uuid.UUID, email string, ttl time.Duration) (Token, error) {
	raw := p.Format().new()
	if raw == "" {
		return Token{}, fmt.Errorf("mint token: unknown purpose %q", p)
	}
	if ttl <= 0 {
		return Token{}, fmt.Errorf("mint token: lifetime %s", ttl)
	}
	now := s.now()
	expires := now.Add(ttl)
	err := q.CreateOneTimeToken(ctx, db.CreateOneTimeTokenParams{TokenHash: Hash(raw), Purpose: string(p),
		UserID: user, Email: email, Now: now, ExpiresAt: expires})
	switch err := db.Classify(err); {
	case errors.Is(err, db.ErrForeignKey):
		return Token{}, ErrNoUser
	case err != nil:
		return Token{}, fmt.Errorf("mint token: %w", err)
	}
	return Token{Raw: raw, ExpiresAt: expires}, nil
}

// Peek is the user of raw if Spend would spend it now as a secret of p,
// without spending it (so a flow refuses a bad secret before costly
// work); ErrInvalid otherwise.
func (s *Store) Peek(ctx context.Context, q *db.Queries, p Purpose, raw string) (uuid.UUID, error) {
	if raw == "" || len(raw) > maxRawLen {
		return uuid.Nil, ErrInvalid
	}
	user, err := q.GetOneTimeTokenUser(ctx, db.GetOneTimeTokenUserParams{TokenHash: Hash(raw), Purpose: string(p), Now: s.now()})
	switch err := db.Classify(err); {
	case errors.Is(err, db.ErrNotFound):
		return uuid.Nil, ErrInvalid
	case err != nil:
		return uuid.Nil, fmt.Errorf("look up token: %w", err)
	}
	return user, nil
}

// Attempt counts one attempt on raw, a secret of p that is tried with
// something else (a login ticket with a code), before that is checked, and
// returns its user while the secret is unexpired and had fewer than
// maxAttempts attempts; ErrInvalid otherwise. It is one statement of its
// own (not the caller's transaction: a failed try stays counted), so of
// any number of concurrent tries at most maxAttempts get through. The
// secret itself is then spent with Spend.
func (s *Store) Attempt(ctx context.Context, q *db.Queries, p Purpose, raw string, maxAttempts int) (uuid.UUID, error) {
	if raw == "" || len(raw) > maxRawLen || maxAttempts <= 0 {
		return uuid.Nil, ErrInvalid
	}
	user, err := q.AttemptOneTimeToken(ctx, db.AttemptOneTimeTokenParams{TokenHash: Hash(raw), Purpose: string(p),
		Now: s.now(), MaxAttempts: int32(min(maxAttempts, 1000))})
	switch err := db.Classify(err); {
	case errors.Is(err, db.ErrNotFound):
		return uuid.Nil, ErrInvalid
	case err != nil:
		return uuid.Nil, fmt.Errorf("attempt token: %w", err)
	}
	return user, nil
}

// Spent is a secret used up and its user.
type Spent struct {
	User  db.User // locked until the caller's transaction ends
	Email string  // the address the secret was sent to
	// When it was minted and until when it was valid: what Restore needs.
	CreatedAt, ExpiresAt time.Time
}

// Spend uses raw up as a secret of p in q's transaction, with its user
// locked first. Of any number of concurrent callers exactly one gets it;
// the others, and every unknown, expired, used or wrong-purpose secret,
// get ErrInvalid. The caller checks Spent.Email against the user's
// address if it matters (a secret sent to an address the user no longer
// has is stale) and commits even then, so a stale secret is gone.
func (s *Store) Spend(ctx context.Context, q *db.Queries, p Purpose, raw string) (Spent, error) {
	id, err := s.Peek(ctx, q, p, raw)
	if err != nil {
		return Spent{}, err
	}
	user, err := q.LockUser(ctx, id)
	switch err := db.Classify(err); {
	case errors.Is(err, db.ErrNotFound): // deleted meanwhile; its secrets went with it
		return Spent{}, ErrInvalid
	case err != nil:
		return Spent{}, fmt.Errorf("lock user: %w", err)
	}
	tok, err := q.ConsumeOneTimeToken(ctx, db.ConsumeOneTimeTokenParams{TokenHash: Hash(raw), Purpose: string(p), Now: s.now()})
	switch err := db.Classify(err); {
	case errors.Is(err, db.ErrNotFound): // spent by someone else first
		return Spent{}, ErrInvalid
	case err != nil:
		return Spent{}, fmt.Errorf("consume token: %w", err)
	}
	if tok.UserID != user.ID { // cannot happen: the hash is the key
		return Spent{}, ErrInvalid
	}
	return Spent{User: user, Email: tok.Email, CreatedAt: tok.CreatedAt, ExpiresAt: tok.ExpiresAt}, nil
}

// Restore puts raw, a secret of p that sp says was spent, back as it was
// (same hash, purpose, user, address, expiry), for a flow that could not
// go on after it spent it. The caller holds the user's lock and has
// checked that nothing that ends the user's secrets happened since (their
// tokens would be gone too). A secret already back is no error; a user
// deleted meanwhile is ErrNoUser.
func (s *Store) Restore(ctx context.Context, q *db.Queries, p Purpose, raw string, sp Spent) error {
	_, err := q.RestoreOneTimeToken(ctx, db.RestoreOneTimeTokenParams{TokenHash: Hash(raw), Purpose: string(p),
		UserID: sp.User.ID, Email: sp.Email, CreatedAt: sp.CreatedAt, ExpiresAt: sp.ExpiresAt})
	switch err := db.Classify(err); {
	case errors.Is(err, db.ErrForeignKey):
		return ErrNoUser
	case err != nil:
		return fmt.Errorf("restore token: %w", err)
	}
	return nil
}

// Drop deletes raw, a secret of p that was minted but never handed out.
// An unknown secret is no error.
func (s *Store) Drop(ctx context.Context, q *db.Queries, p Purpose, raw string) error {
	if _, err := q.DeleteOneTimeToken(ctx, db.DeleteOneTimeTokenParams{TokenHash: Hash(raw), Purpose: string(p)}); err != nil {
		return fmt.Errorf("drop token: %w", err)
	}
	return nil
}

// DropUser deletes every secret of user with one of purposes (the
// siblings of a secret just spent, or what a change makes stale) and
// returns how many went.
func (s *Store) DropUser(ctx context.Context, q *db.Queries, user uuid.UUID, purposes ...Purpose) (int64, error) {
	ps := make([]string, len(purposes))
	for i, p := range purposes {
		ps[i] = string(p)
	}
	n, err := q.DeleteUserTokens(ctx, db.DeleteUserTokensParams{UserID: user, Purposes: ps})
	if err != nil {
		return 0, fmt.Errorf("drop tokens: %w", err)
	}
	return n, nil
}

// Purge deletes up to batch expired secrets (SKIP LOCKED, so replicas
// may purge at once) and returns how many went.
func (s *Store) Purge(ctx context.Context, q *db.Queries, batch int32) (int64, error) {
	return q.DeleteExpiredTokens(ctx, db.DeleteExpiredTokensParams{Cutoff: s.now(), BatchSize: batch})
}

// ErrNotHeld: the mail a secret was to be minted for is no longer held by
// the caller (a change to the account superseded it, or its lease ran out
// and another sender took it).
var ErrNotHeld = errors.New("the mail is no longer held")

// MintForMail is Mint for the link of outbox mail mailID, sent to email
// for user, done only while the caller holds the mail (status sending
// under lease), decided in the same statement: otherwise nothing is
// stored and the error is ErrNotHeld.
func (s *Store) MintForMail(ctx context.Context, q *db.Queries, p Purpose, user uuid.UUID, email string, mailID int64, lease time.Time) (Token, error) {
	ttl := s.life[p]
	raw := p.Format().new()
	switch {
	case ttl <= 0:
		return Token{}, fmt.Errorf("mint token: no lifetime for %q", p)
	case raw == "":
		return Token{}, fmt.Errorf("mint token: unknown purpose %q", p)
	}
	now := s.now()
	expires := now.Add(ttl)
	n, err := q.CreateMailToken(ctx, db.CreateMailTokenParams{TokenHash: Hash(raw), Purpose: string(p),
		Now: now, ExpiresAt: expires, MailID: mailID, LeaseUntil: lease, UserID: user, Email: email})
	switch err := db.Classify(err); {
	case errors.Is(err, db.ErrForeignKey):
		return Token{}, ErrNoUser
	case err != nil:
		return Token{}, fmt.Errorf("mint token: %w", err)
	case n == 0:
		return Token{}, ErrNotHeld
	}
	return Token{Raw: raw, ExpiresAt: expires}, nil
}
