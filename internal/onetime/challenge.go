package onetime

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
)

// Challenge is a minted WebAuthn challenge: Raw is the base64url text the
// browser echoes in clientDataJSON, Bytes what the options carry.
type Challenge struct {
	Raw       string
	Bytes     []byte
	ExpiresAt time.Time
}

// MintChallenge stores a fresh challenge of p (a Passkey* purpose, the
// ceremony) for user, valid for ttl, as the hash of its text, and returns
// it. user is uuid.Nil for PasskeyLogin only (nobody is known yet), and
// never for another purpose. A user deleted meanwhile is ErrNoUser.
func (s *Store) MintChallenge(ctx context.Context, q *db.Queries, p Purpose, user uuid.UUID, ttl time.Duration) (Challenge, error) {
	switch {
	case (p == PasskeyLogin) != (user == uuid.Nil):
		return Challenge{}, fmt.Errorf("mint challenge: purpose %q with user %s", p, user)
	case p != PasskeyRegister && p != PasskeyLogin && p != PasskeyMFA && p != PasskeyReauth:
		return Challenge{}, fmt.Errorf("mint challenge: purpose %q", p)
	case ttl <= 0:
		return Challenge{}, fmt.Errorf("mint challenge: lifetime %s", ttl)
	}
	raw := p.Format().new()
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return Challenge{}, fmt.Errorf("mint challenge: %w", err)
	}
	now := s.now()
	expires := now.Add(ttl)
	if p == PasskeyLogin {
		err = q.CreatePasskeyLoginChallenge(ctx, db.CreatePasskeyLoginChallengeParams{TokenHash: Hash(raw), Now: now, ExpiresAt: expires})
	} else {
		err = q.CreatePasskeyChallenge(ctx, db.CreatePasskeyChallengeParams{TokenHash: Hash(raw), Purpose: string(p),
			UserID: user, Now: now, ExpiresAt: expires})
	}
	switch err := db.Classify(err); {
	case errors.Is(err, db.ErrForeignKey):
		return Challenge{}, ErrNoUser
	case err != nil:
		return Challenge{}, fmt.Errorf("mint challenge: %w", err)
	}
	return Challenge{Raw: raw, Bytes: b, ExpiresAt: expires}, nil
}

// TakeChallenge uses raw up as a challenge of p for user (uuid.Nil for
// PasskeyLogin), in one statement of its own: it is gone whatever the
// ceremony's check then says, so a challenge is answered at most once. Of
// any number of concurrent callers at most one gets it; the others, and
// an unknown, expired or used challenge, or one of another ceremony or
// another user, get ErrInvalid.
func (s *Store) TakeChallenge(ctx context.Context, q *db.Queries, p Purpose, user uuid.UUID, raw string) error {
	if raw == "" || len(raw) > maxRawLen {
		return ErrInvalid
	}
	n, err := q.TakePasskeyChallenge(ctx, db.TakePasskeyChallengeParams{TokenHash: Hash(raw), Purpose: string(p),
		UserID: uuid.NullUUID{UUID: user, Valid: user != uuid.Nil}, Now: s.now()})
	switch {
	case err != nil:
		return fmt.Errorf("take challenge: %w", err)
	case n == 0:
		return ErrInvalid
	}
	return nil
}
