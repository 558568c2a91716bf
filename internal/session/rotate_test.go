package session_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/session"
	"github.com/authd/authd/internal/token"
)

// TestRotate: a rotation gives the next generation; inside the grace window
// the previous token gets the winner's successor; after it, the previous
// token is a replay that ends the session.
func TestRotate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	grace := f.cfg.Options.ReuseGrace
	u := f.user("rotate@example.com")
	t0 := f.start(u.ID)
	c0 := f.claims(t0.Refresh)
	sid := c0.Session
	if c0.Generation != 0 {
		t.Errorf("first generation = %d, want 0", c0.Generation)
	}

	f.clock.Advance(time.Second)
	t1 := f.rotate(t0.Refresh)
	c1 := f.claims(t1.Refresh)
	if got, want := c1.Generation, c0.Generation+1; got != want {
		t.Errorf("generation after rotation = %d, want %d", got, want)
	}
	if c1.Session != sid || c1.Subject != u.ID {
		t.Errorf("rotated token names session %s of %s, want %s of %s", c1.Session, c1.Subject, sid, u.ID)
	}
	if c1.ID == c0.ID || t1.Refresh == t0.Refresh || t1.Access == t0.Access {
		t.Error("rotation did not issue new tokens")
	}
	if !t1.SessionEnd.Equal(t0.SessionEnd) {
		t.Errorf("SessionEnd after rotation = %v, want %v (never extended)", t1.SessionEnd, t0.SessionEnd)
	}
	if a, err := f.svc.Authenticate(ctx, t1.Access); err != nil || a.Session != sid || a.User.ID != u.ID {
		t.Errorf("Authenticate(new access) = %+v, %v; want session %s of %s", a, err, sid, u.ID)
	}

	// Inside the window the previous token gets the successor, every time.
	for _, d := range []time.Duration{0, grace / 2, grace/2 - time.Second} {
		f.clock.Advance(d)
		g, err := f.svc.Rotate(ctx, t0.Refresh)
		if err != nil {
			t.Fatalf("previous token %v into the grace window: %v", f.clock.Now().Sub(*f.session(sid).RotatedAt), err)
		}
		cg := f.claims(g.Refresh)
		if cg.ID != c1.ID || cg.Generation != c1.Generation || cg.Session != sid {
			t.Errorf("grace answer = jti %s gen %d, want the successor: jti %s gen %d", cg.ID, cg.Generation, c1.ID, c1.Generation)
		}
		if !f.alive(g.Access) {
			t.Error("access token of the grace answer refused")
		}
	}
	if got := f.session(sid).Generation; got != 1 {
		t.Errorf("generation after grace answers = %d, want 1 (no fork, no advance)", got)
	}

	// The successor still rotates, and its window ends exactly ReuseGrace later.
	t2 := f.rotate(t1.Refresh)
	c2 := f.claims(t2.Refresh)
	if c2.Generation != 2 {
		t.Errorf("generation = %d, want 2", c2.Generation)
	}
	f.clock.Advance(grace - time.Second)
	if g, err := f.svc.Rotate(ctx, t1.Refresh); err != nil {
		t.Fatalf("previous token 1s before the end of the window: %v", err)
	} else if cg := f.claims(g.Refresh); cg.ID != c2.ID || cg.Generation != c2.Generation {
		t.Errorf("grace answer = jti %s gen %d, want jti %s gen %d", cg.ID, cg.Generation, c2.ID, c2.Generation)
	}
	f.clock.Advance(time.Second)
	_, err := f.svc.Rotate(ctx, t1.Refresh)
	if !errors.Is(err, session.ErrReused) || !errors.Is(err, session.ErrInvalid) {
		t.Fatalf("previous token at the end of the window: %v, want ErrReused (and ErrInvalid)", err)
	}

	// The replay revoked the session: nothing of it works any more.
	if f.alive(t2.Access) {
		t.Error("newest access token admitted after reuse")
	}
	if _, err := f.svc.Rotate(ctx, t2.Refresh); !errors.Is(err, session.ErrInvalid) {
		t.Errorf("newest refresh token after reuse: %v, want ErrInvalid", err)
	}
	if _, err := f.svc.Rotate(ctx, t0.Refresh); !errors.Is(err, session.ErrInvalid) {
		t.Errorf("first refresh token after reuse: %v, want ErrInvalid", err)
	}
	row := f.session(sid)
	if row.RevokedAt == nil || !row.RevokedAt.Equal(f.clock.Now()) {
		t.Errorf("revoked_at = %v, want %v", row.RevokedAt, f.clock.Now())
	}
	if got, want := f.reason(sid), string(session.ReasonReuse); got != want {
		t.Errorf("revoked_reason = %q, want %q", got, want)
	}
}

// TestRotateNoGrace: with ReuseGrace 0 the previous token is a replay at
// once, even at the very instant of the rotation.
func TestRotateNoGrace(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *config) { c.Options.ReuseGrace = 0 })
	ctx := t.Context()
	u := f.user("nograce@example.com")
	t0 := f.start(u.ID)
	sid := f.sid(t0.Refresh)
	f.clock.Advance(time.Second)
	t1 := f.rotate(t0.Refresh)

	if _, err := f.svc.Rotate(ctx, t0.Refresh); !errors.Is(err, session.ErrReused) {
		t.Fatalf("previous token with no grace: %v, want ErrReused", err)
	}
	if _, err := f.svc.Rotate(ctx, t1.Refresh); !errors.Is(err, session.ErrInvalid) {
		t.Errorf("successor after reuse: %v, want ErrInvalid", err)
	}
	if f.alive(t1.Access) {
		t.Error("access token admitted after reuse")
	}
	if got, want := f.reason(sid), string(session.ReasonReuse); got != want {
		t.Errorf("revoked_reason = %q, want %q", got, want)
	}
}

// TestReplayAnyOldGeneration: in a chain of three rotations, each beyond the
// grace window, replaying any old token revokes the session.
func TestReplayAnyOldGeneration(t *testing.T) {
	t.Parallel()
	for replay := range 3 {
		t.Run(fmt.Sprintf("generation %d", replay), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			ctx := t.Context()
			u := f.user("chain@example.com")
			chain := []session.Tokens{f.start(u.ID)}
			for range 3 {
				f.clock.Advance(time.Minute)
				chain = append(chain, f.rotate(chain[len(chain)-1].Refresh))
			}
			newest := chain[3]
			f.clock.Advance(time.Minute)

			if _, err := f.svc.Rotate(ctx, chain[replay].Refresh); !errors.Is(err, session.ErrReused) {
				t.Fatalf("replay of generation %d: %v, want ErrReused", replay, err)
			}
			if _, err := f.svc.Rotate(ctx, newest.Refresh); !errors.Is(err, session.ErrInvalid) {
				t.Errorf("newest refresh token after replay: %v, want ErrInvalid", err)
			}
			if f.alive(newest.Access) {
				t.Error("newest access token admitted after replay")
			}
		})
	}
}

// TestRotateInvalid: tokens that do not name a live session of theirs are
// ErrInvalid, and none of them is taken for a replay.
func TestRotateInvalid(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	foreign := newSigner(t, config{Options: f.cfg.Options, AccessTTL: time.Minute, foreign: true}, f.clock)
	u := f.user("invalid@example.com")
	other := f.user("other@example.com")
	live := f.start(u.ID)
	c := f.claims(live.Refresh)
	sign := func(s *token.Signer, sub, sid uuid.UUID, gen int64, jti string) string {
		tok, err := s.Refresh(sub, sid, gen, jti, f.clock.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tests := []struct {
		name  string
		token string
	}{
		{"empty", ""},
		{"garbage", "not.a.token"},
		{"access token", live.Access},
		{"foreign keys", sign(foreign, u.ID, c.Session, c.Generation, c.ID)},
		{"unknown session", sign(f.tokens, u.ID, uuid.New(), 0, "dW5rbm93bi1qdGktMTIzNA")},
		{"another user's subject", sign(f.tokens, other.ID, c.Session, c.Generation+1, "bm90LWN1cnJlbnQtMTIzNA")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.Rotate(t.Context(), tt.token)
			if !errors.Is(err, session.ErrInvalid) || errors.Is(err, session.ErrReused) {
				t.Errorf("Rotate = %v, want ErrInvalid and not ErrReused", err)
			}
		})
	}
	if got := f.reason(c.Session); got != "" {
		t.Errorf("revoked_reason of the live session = %q, want none", got)
	}
	if got := f.claims(f.rotate(live.Refresh).Refresh).Generation; got != 1 {
		t.Errorf("generation of the live session = %d, want 1", got)
	}
}

// TestRotateRace: many rotations of one token at once never fork the
// session: within grace all get the one successor; without grace one wins
// and the session ends.
func TestRotateRace(t *testing.T) {
	t.Parallel()
	const n, rounds = 20, 3
	tests := []struct {
		name  string
		grace time.Duration
	}{
		{"within grace", 10 * time.Second},
		{"no grace", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, func(c *config) { c.Options.ReuseGrace = tt.grace })
			ctx := t.Context()
			u := f.user("race@example.com")
			for round := range rounds {
				t0 := f.start(u.ID)
				sid := f.sid(t0.Refresh)
				f.clock.Advance(time.Second)

				results := make([]session.Tokens, n)
				errs := make([]error, n)
				ready := make(chan struct{})
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						<-ready
						results[i], errs[i] = f.svc.Rotate(ctx, t0.Refresh)
					})
				}
				close(ready)
				wg.Wait()

				row := f.session(sid)
				if row.Generation != 1 {
					t.Errorf("round %d: generation = %d, want 1", round, row.Generation)
				}
				if tt.grace > 0 {
					var want token.Claims
					for i, err := range errs {
						if err != nil {
							t.Errorf("round %d: rotation %d: %v", round, i, err)
							continue
						}
						got := f.claims(results[i].Refresh)
						if want.ID == "" {
							want = got
						}
						if got.ID != want.ID || got.Generation != 1 {
							t.Errorf("round %d: rotation %d gave jti %s gen %d, want jti %s gen 1", round, i, got.ID, got.Generation, want.ID)
						}
					}
					if row.RevokedAt != nil {
						t.Errorf("round %d: session revoked (%s)", round, f.reason(sid))
					}
					if !t.Failed() {
						if got := f.claims(f.rotate(results[0].Refresh).Refresh).Generation; got != 2 {
							t.Errorf("round %d: generation after the successor = %d, want 2", round, got)
						}
					}
					continue
				}
				winner, winners, reused := -1, 0, 0
				for i, err := range errs {
					switch {
					case err == nil:
						winner = i
						winners++
					case errors.Is(err, session.ErrReused):
						reused++
					case !errors.Is(err, session.ErrInvalid):
						t.Errorf("round %d: rotation %d: %v, want ErrReused or ErrInvalid", round, i, err)
					}
				}
				if winners != 1 || reused < 1 {
					t.Fatalf("round %d: %d won and %d saw reuse; want 1 and at least 1", round, winners, reused)
				}
				if row.RevokedAt == nil {
					t.Errorf("round %d: session not revoked", round)
				} else if got, want := f.reason(sid), string(session.ReasonReuse); got != want {
					t.Errorf("round %d: revoked_reason = %q, want %q", round, got, want)
				}
				if f.alive(results[winner].Access) {
					t.Errorf("round %d: winner's access token admitted", round)
				}
				if _, err := f.svc.Rotate(ctx, results[winner].Refresh); !errors.Is(err, session.ErrInvalid) {
					t.Errorf("round %d: winner's refresh token: %v, want ErrInvalid", round, err)
				}
			}
		})
	}
}

// TestExpiry: a session ends RefreshTTL after its last refresh, and
// SessionLifetime after its start whatever the refreshes.
func TestExpiry(t *testing.T) {
	t.Parallel()
	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		// The access token outlives the idle timeout, so Authenticate
		// is refused by the session, not by the token.
		f := newFixture(t, func(c *config) {
			c.Options.RefreshTTL = 10 * time.Minute
			c.AccessTTL = 15 * time.Minute
		})
		u := f.user("idle@example.com")
		tests := []struct {
			name  string
			after time.Duration
			alive bool
		}{
			{"1s before the idle end", 10*time.Minute - time.Second, true},
			{"at the idle end", 10 * time.Minute, false},
			{"past the token's leeway", 11 * time.Minute, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				toks := f.start(u.ID)
				sid := f.sid(toks.Refresh)
				f.clock.Advance(tt.after)
				if got := f.alive(toks.Access); got != tt.alive {
					t.Errorf("Authenticate admits = %v, want %v", got, tt.alive)
				}
				_, err := f.svc.Rotate(t.Context(), toks.Refresh)
				switch {
				case tt.alive && err != nil:
					t.Errorf("Rotate = %v, want success", err)
				case !tt.alive && (!errors.Is(err, session.ErrInvalid) || errors.Is(err, session.ErrReused)):
					t.Errorf("Rotate = %v, want ErrInvalid (not reuse)", err)
				}
				if got := f.reason(sid); got != "" {
					t.Errorf("revoked_reason = %q; expiry is not revocation", got)
				}
			})
		}
	})

	t.Run("rotation renews the idle end", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, func(c *config) { c.Options.RefreshTTL = 10 * time.Minute })
		toks := f.start(f.user("renew@example.com").ID)
		sid := f.sid(toks.Refresh)
		for range 4 { // 36 minutes, far past the first idle end
			f.clock.Advance(9 * time.Minute)
			toks = f.rotate(toks.Refresh)
			want := f.clock.Now().Add(10 * time.Minute)
			if got := f.session(sid).IdleExpiresAt; !got.Equal(want) {
				t.Errorf("idle_expires_at = %v, want %v", got, want)
			}
			if got := f.claims(toks.Refresh).ExpiresAt; !got.Equal(want) {
				t.Errorf("refresh token expires %v, want %v", got, want)
			}
		}
		f.clock.Advance(10 * time.Minute)
		if _, err := f.svc.Rotate(t.Context(), toks.Refresh); !errors.Is(err, session.ErrInvalid) {
			t.Errorf("Rotate after the renewed idle end = %v, want ErrInvalid", err)
		}
	})

	t.Run("absolute", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, func(c *config) {
			c.Options.RefreshTTL = time.Hour
			c.Options.SessionLifetime = 3 * time.Hour
			c.AccessTTL = time.Hour
		})
		start := f.clock.Now()
		end := start.Add(3 * time.Hour)
		toks := f.start(f.user("absolute@example.com").ID)
		sid := f.sid(toks.Refresh)
		if !toks.SessionEnd.Equal(end) {
			t.Errorf("SessionEnd = %v, want start + lifetime = %v", toks.SessionEnd, end)
		}
		for range 3 { // to 2h30m, each inside the idle window
			f.clock.Advance(50 * time.Minute)
			toks = f.rotate(toks.Refresh)
			want := f.clock.Now().Add(time.Hour)
			if end.Before(want) {
				want = end
			}
			if !toks.SessionEnd.Equal(end) {
				t.Errorf("SessionEnd = %v, want %v", toks.SessionEnd, end)
			}
			if got := f.session(sid).IdleExpiresAt; !got.Equal(want) {
				t.Errorf("idle_expires_at = %v, want %v", got, want)
			}
			if got := f.claims(toks.Refresh).ExpiresAt; !got.Equal(want) {
				t.Errorf("refresh token expires %v, want %v", got, want)
			}
		}
		f.clock.Advance(end.Sub(f.clock.Now()) - time.Second)
		if !f.alive(toks.Access) {
			t.Error("Authenticate 1s before the session's end refused")
		}
		f.clock.Advance(time.Second)
		if f.alive(toks.Access) {
			t.Error("Authenticate at the session's end admitted")
		}
		if _, err := f.svc.Rotate(t.Context(), toks.Refresh); !errors.Is(err, session.ErrInvalid) {
			t.Errorf("Rotate at the session's end = %v, want ErrInvalid", err)
		}
	})

	t.Run("lifetime shorter than the idle timeout", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, func(c *config) {
			c.Options.RefreshTTL = time.Hour
			c.Options.SessionLifetime = 30 * time.Minute
		})
		end := f.clock.Now().Add(30 * time.Minute)
		toks := f.start(f.user("short@example.com").ID)
		row := f.session(f.sid(toks.Refresh))
		if !toks.SessionEnd.Equal(end) || !row.ExpiresAt.Equal(end) || !row.IdleExpiresAt.Equal(end) {
			t.Errorf("SessionEnd %v, expires_at %v, idle_expires_at %v; want all %v",
				toks.SessionEnd, row.ExpiresAt, row.IdleExpiresAt, end)
		}
		if got := f.claims(toks.Refresh).ExpiresAt; !got.Equal(end) {
			t.Errorf("refresh token expires %v, want %v", got, end)
		}
	})
}
