package onetime_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/onetime"
)

// TestChallengeUsedOnce: a WebAuthn challenge is stored only as its hash,
// bound to its ceremony and its user, taken once (of 20 concurrent takes,
// one), and dead after its lifetime.
func TestChallengeUsedOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	c, err := f.store.MintChallenge(ctx, f.q, onetime.PasskeyRegister, f.user.ID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Bytes) != 32 || !linkShape.MatchString(c.Raw) {
		t.Fatalf("challenge %q, %d bytes", c.Raw, len(c.Bytes))
	}
	var dump string
	if err := f.pool.QueryRow(ctx, "SELECT string_agg(t::text, E'\\n') FROM one_time_tokens t").Scan(&dump); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(dump, c.Raw) {
		t.Error("the raw challenge is in the database")
	}
	// Another ceremony, another user, a passwordless login's: refused, and
	// the challenge stays for its own ceremony.
	for _, try := range []struct {
		p    onetime.Purpose
		user uuid.UUID
	}{{onetime.PasskeyReauth, f.user.ID}, {onetime.PasskeyRegister, uuid.New()}, {onetime.PasskeyLogin, uuid.Nil}} {
		if err := f.store.TakeChallenge(ctx, f.q, try.p, try.user, c.Raw); !errors.Is(err, onetime.ErrInvalid) {
			t.Errorf("take as %s for %s: %v, want ErrInvalid", try.p, try.user, err)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 20 {
		wg.Go(func() {
			if err := f.store.TakeChallenge(ctx, f.q, onetime.PasskeyRegister, f.user.ID, c.Raw); err == nil {
				mu.Lock()
				won++
				mu.Unlock()
			} else if !errors.Is(err, onetime.ErrInvalid) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if won != 1 {
		t.Errorf("%d of 20 concurrent takes got the challenge, want 1", won)
	}

	// A passwordless login's challenge has no user; it expires.
	l, err := f.store.MintChallenge(ctx, f.q, onetime.PasskeyLogin, uuid.Nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.TakeChallenge(ctx, f.q, onetime.PasskeyLogin, f.user.ID, l.Raw); !errors.Is(err, onetime.ErrInvalid) {
		t.Errorf("a login challenge taken for a user: %v", err)
	}
	f.clock.Advance(time.Minute)
	if err := f.store.TakeChallenge(ctx, f.q, onetime.PasskeyLogin, uuid.Nil, l.Raw); !errors.Is(err, onetime.ErrInvalid) {
		t.Errorf("an expired challenge: %v", err)
	}
	// Only a login's challenge may lack a user.
	if _, err := f.store.MintChallenge(ctx, f.q, onetime.PasskeyMFA, uuid.Nil, time.Minute); err == nil {
		t.Error("a second-factor challenge without a user was minted")
	}
	if _, err := f.store.MintChallenge(ctx, f.q, onetime.LoginTicket, f.user.ID, time.Minute); err == nil {
		t.Error("a challenge of a non-passkey purpose was minted")
	}
	err = f.q.CreatePasskeyChallenge(ctx, db.CreatePasskeyChallengeParams{TokenHash: onetime.Hash("x"), Purpose: "login_ticket", UserID: f.user.ID, Now: f.clock.Now(), ExpiresAt: f.clock.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(ctx, "INSERT INTO one_time_tokens (token_hash, purpose, email, created_at, expires_at) VALUES ($1, 'passkey_mfa', '', now(), now())", onetime.Hash("y")); err == nil {
		t.Error("the schema took a userless secret other than a login challenge")
	}
}
