package session_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/session"
)

// TestLogoutScopes: current ends the caller's session, others every other
// one of the user, all every one; other users are untouched.
func TestLogoutScopes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	bystander := f.start(f.user("bystander@example.com").ID)
	type present func(session.Tokens) (access, refresh string)
	byAccess := func(tk session.Tokens) (string, string) { return tk.Access, "" }
	byRefresh := func(tk session.Tokens) (string, string) { return "", tk.Refresh }
	byBadAccess := func(tk session.Tokens) (string, string) { return "not a token", tk.Refresh }
	tests := []struct {
		name   string
		scope  session.Scope
		by     present
		alive  [3]bool // the caller's session is 0
		reason session.Reason
	}{
		{"current by access token", session.ScopeCurrent, byAccess, [3]bool{false, true, true}, session.ReasonLogoutCurrent},
		{"current by refresh token", session.ScopeCurrent, byRefresh, [3]bool{false, true, true}, session.ReasonLogoutCurrent},
		{"current by refresh token after a bad access token", session.ScopeCurrent, byBadAccess, [3]bool{false, true, true}, session.ReasonLogoutCurrent},
		{"others", session.ScopeOthers, byAccess, [3]bool{true, false, false}, session.ReasonLogoutOthers},
		{"others by refresh token", session.ScopeOthers, byRefresh, [3]bool{true, false, false}, session.ReasonLogoutOthers},
		{"all", session.ScopeAll, byAccess, [3]bool{false, false, false}, session.ReasonLogoutAll},
		{"all by refresh token", session.ScopeAll, byRefresh, [3]bool{false, false, false}, session.ReasonLogoutAll},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := f.user(fmt.Sprintf("scopes%d@example.com", i))
			var toks [3]session.Tokens
			var ids [3]uuid.UUID
			for j := range toks {
				toks[j] = f.start(u.ID)
				ids[j] = f.sid(toks[j].Refresh)
			}
			access, refresh := tt.by(toks[0])
			if err := f.svc.Logout(t.Context(), access, refresh, tt.scope); err != nil {
				t.Fatalf("Logout: %v", err)
			}
			for j := range toks {
				if got := f.alive(toks[j].Access); got != tt.alive[j] {
					t.Errorf("session %d admitted = %v, want %v", j, got, tt.alive[j])
				}
				want := string(tt.reason)
				if tt.alive[j] {
					want = ""
				}
				if got := f.reason(ids[j]); got != want {
					t.Errorf("session %d revoked_reason = %q, want %q", j, got, want)
				}
			}
		})
	}
	if !f.alive(bystander.Access) {
		t.Error("another user's session ended")
	}
}

// TestLogoutWithoutValidToken: a logout naming no session by a valid token
// does nothing and is not an error, nor is logging out twice.
func TestLogoutWithoutValidToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	foreign := newSigner(t, config{Options: f.cfg.Options, AccessTTL: time.Minute, foreign: true}, f.clock)
	u := f.user("noop@example.com")
	toks := f.start(u.ID)
	sid := f.sid(toks.Refresh)
	foreignAccess, err := foreign.Access(u.ID, sid)
	if err != nil {
		t.Fatal(err)
	}
	foreignRefresh, err := foreign.Refresh(u.ID, sid, 0, "Zm9yZWlnbi1qdGktMTIzNA", f.clock.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name            string
		access, refresh string
	}{
		{"no tokens", "", ""},
		{"garbage", "garbage", "garbage"},
		{"kinds swapped", toks.Refresh, toks.Access},
		{"foreign keys", foreignAccess, foreignRefresh},
	}
	for _, tt := range tests {
		for _, scope := range []session.Scope{session.ScopeCurrent, session.ScopeOthers, session.ScopeAll} {
			t.Run(tt.name+"/"+scope.String(), func(t *testing.T) {
				if err := f.svc.Logout(t.Context(), tt.access, tt.refresh, scope); err != nil {
					t.Errorf("Logout = %v, want nil", err)
				}
				if got := f.reason(sid); got != "" {
					t.Errorf("revoked_reason = %q, want the session untouched", got)
				}
			})
		}
	}

	t.Run("expired access token", func(t *testing.T) {
		f.clock.Advance(f.cfg.AccessTTL + time.Minute) // the session lives on
		if err := f.svc.Logout(t.Context(), toks.Access, "", session.ScopeAll); err != nil {
			t.Errorf("Logout = %v, want nil", err)
		}
		if got := f.reason(sid); got != "" {
			t.Errorf("revoked_reason = %q, want the session untouched", got)
		}
	})

	t.Run("twice", func(t *testing.T) {
		toks := f.start(u.ID)
		sid := f.sid(toks.Refresh)
		for i := range 2 {
			if err := f.svc.Logout(t.Context(), toks.Access, "", session.ScopeCurrent); err != nil {
				t.Errorf("logout %d = %v, want nil", i+1, err)
			}
			f.clock.Advance(time.Second)
		}
		row := f.session(sid)
		if want := f.clock.Now().Add(-2 * time.Second); row.RevokedAt == nil || !row.RevokedAt.Equal(want) {
			t.Errorf("revoked_at = %v, want %v (the first logout's)", row.RevokedAt, want)
		}
	})
}

// TestRevokedReason: each way a session ends stores its Reason, whose text
// is fixed (dashboards and queries use it).
func TestRevokedReason(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tests := []struct {
		name   string
		reason session.Reason
		text   string
		// end ends one or more of the user's two sessions and names those.
		end func(t *testing.T, user uuid.UUID, toks [2]session.Tokens, ids [2]uuid.UUID) []uuid.UUID
	}{
		{"logout current", session.ReasonLogoutCurrent, "logout_current",
			func(t *testing.T, _ uuid.UUID, toks [2]session.Tokens, ids [2]uuid.UUID) []uuid.UUID {
				if err := f.svc.Logout(t.Context(), toks[0].Access, "", session.ScopeCurrent); err != nil {
					t.Fatal(err)
				}
				return ids[:1]
			}},
		{"logout others", session.ReasonLogoutOthers, "logout_others",
			func(t *testing.T, _ uuid.UUID, toks [2]session.Tokens, ids [2]uuid.UUID) []uuid.UUID {
				if err := f.svc.Logout(t.Context(), toks[0].Access, "", session.ScopeOthers); err != nil {
					t.Fatal(err)
				}
				return ids[1:]
			}},
		{"logout all", session.ReasonLogoutAll, "logout_all",
			func(t *testing.T, _ uuid.UUID, toks [2]session.Tokens, ids [2]uuid.UUID) []uuid.UUID {
				if err := f.svc.Logout(t.Context(), toks[0].Access, "", session.ScopeAll); err != nil {
					t.Fatal(err)
				}
				return ids[:]
			}},
		{"reuse", session.ReasonReuse, "reuse_detected",
			func(t *testing.T, _ uuid.UUID, toks [2]session.Tokens, ids [2]uuid.UUID) []uuid.UUID {
				f.clock.Advance(time.Minute)
				f.rotate(toks[0].Refresh)
				f.clock.Advance(time.Minute)
				if _, err := f.svc.Rotate(t.Context(), toks[0].Refresh); !errors.Is(err, session.ErrReused) {
					t.Fatalf("replay: %v, want ErrReused", err)
				}
				return ids[:1]
			}},
		{"revoked by user", session.ReasonRevokedByUser, "revoked_by_user",
			func(t *testing.T, user uuid.UUID, _ [2]session.Tokens, ids [2]uuid.UUID) []uuid.UUID {
				if err := f.svc.Revoke(t.Context(), user, ids[1]); err != nil {
					t.Fatal(err)
				}
				return ids[1:]
			}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(tt.reason); got != tt.text {
				t.Errorf("Reason text = %q, want %q", got, tt.text)
			}
			u := f.user(fmt.Sprintf("reason%d@example.com", i))
			var toks [2]session.Tokens
			var ids [2]uuid.UUID
			for j := range toks {
				toks[j] = f.start(u.ID)
				ids[j] = f.sid(toks[j].Refresh)
			}
			ended := tt.end(t, u.ID, toks, ids)
			for j, id := range ids {
				want := ""
				for _, e := range ended {
					if e == id {
						want = tt.text
					}
				}
				if got := f.reason(id); got != want {
					t.Errorf("session %d revoked_reason = %q, want %q", j, got, want)
				}
			}
		})
	}
}

// TestRevoke: a user ends only their own live sessions; anything else is
// ErrNotFound and changes nothing.
func TestRevoke(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *config) { c.Options.RefreshTTL = 10 * time.Minute })
	alice, bob := f.user("alice@example.com"), f.user("bob@example.com")
	idled := f.sid(f.start(alice.ID).Refresh)
	f.clock.Advance(10 * time.Minute) // idled has idled out
	a1, a2, b1 := f.start(alice.ID), f.start(alice.ID), f.start(bob.ID)
	ida2, idb1 := f.sid(a2.Refresh), f.sid(b1.Refresh)

	tests := []struct {
		name    string
		user    uuid.UUID
		session uuid.UUID
		want    error
	}{
		{"own session", alice.ID, ida2, nil},
		{"own session again", alice.ID, ida2, session.ErrNotFound},
		{"another user's session", alice.ID, idb1, session.ErrNotFound},
		{"unknown session", alice.ID, uuid.New(), session.ErrNotFound},
		{"nil session", alice.ID, uuid.Nil, session.ErrNotFound},
		{"own session unknown user", uuid.New(), ida2, session.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := f.svc.Revoke(t.Context(), tt.user, tt.session); !errors.Is(err, tt.want) {
				t.Errorf("Revoke = %v, want %v", err, tt.want)
			}
		})
	}
	if !f.alive(a1.Access) {
		t.Error("alice's other session ended")
	}
	if f.alive(a2.Access) {
		t.Error("alice's revoked session admitted")
	}
	if !f.alive(b1.Access) || f.reason(idb1) != "" {
		t.Errorf("bob's session touched: revoked_reason %q", f.reason(idb1))
	}

	// A session that idled out is still the user's row until the purge:
	// revoking it succeeds, as it always has, and stamps the reason.
	t.Run("own session that idled out", func(t *testing.T) {
		if err := f.svc.Revoke(t.Context(), alice.ID, idled); err != nil {
			t.Errorf("Revoke = %v, want nil", err)
		}
		if got := f.reason(idled); got != string(session.ReasonRevokedByUser) {
			t.Errorf("revoked_reason = %q, want %q", got, session.ReasonRevokedByUser)
		}
	})
}

// TestList: a user's live sessions only, most recently used first, each
// ending at the earlier of its idle and absolute end.
func TestList(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *config) {
		c.Options.RefreshTTL = time.Hour
		c.Options.SessionLifetime = 3 * time.Hour
	})
	ctx := t.Context()
	t0 := f.clock.Now()
	at := func(d time.Duration) time.Time { return t0.Add(d).UTC() }
	alice, bob := f.user("alice@example.com"), f.user("bob@example.com")
	start := func(user uuid.UUID, ua, addr string) (session.Tokens, uuid.UUID) {
		t.Helper()
		toks, err := f.svc.Start(ctx, user, session.Client{UserAgent: ua, Addr: addr})
		if err != nil {
			t.Fatal(err)
		}
		return toks, f.sid(toks.Refresh)
	}
	start(alice.ID, "idles out", "192.0.2.9") // at 0
	f.clock.Advance(time.Minute)
	one, id1 := start(alice.ID, "one", "192.0.2.1") // at 1m
	f.clock.Advance(time.Minute)
	_, id2 := start(alice.ID, "two", "2001:db8::2") // at 2m
	f.clock.Advance(time.Minute)
	_, id3 := start(alice.ID, "revoked", "192.0.2.3") // at 3m
	if err := f.svc.Revoke(ctx, alice.ID, id3); err != nil {
		t.Fatal(err)
	}
	start(bob.ID, "bob", "192.0.2.4")

	list := func(t *testing.T) []session.Info {
		t.Helper()
		got, err := f.svc.List(ctx, alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range got {
			got[i].CreatedAt, got[i].LastUsedAt, got[i].ExpiresAt = s.CreatedAt.UTC(), s.LastUsedAt.UTC(), s.ExpiresAt.UTC()
		}
		return got
	}
	check := func(t *testing.T, got, want []session.Info) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("listed %d sessions, want %d: %+v", len(got), len(want), got)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("session %d:\n got %+v\nwant %+v", i, got[i], want[i])
			}
		}
	}

	f.clock.Advance(56 * time.Minute) // 59m
	one = f.rotate(one.Refresh)
	f.clock.Advance(time.Minute) // 1h: the first session has idled out
	t.Run("idle ends", func(t *testing.T) {
		check(t, list(t), []session.Info{
			{ID: id1, CreatedAt: at(time.Minute), LastUsedAt: at(59 * time.Minute), ExpiresAt: at(119 * time.Minute), UserAgent: "one", ClientAddr: "192.0.2.1"},
			{ID: id2, CreatedAt: at(2 * time.Minute), LastUsedAt: at(2 * time.Minute), ExpiresAt: at(62 * time.Minute), UserAgent: "two", ClientAddr: "2001:db8::2"},
		})
	})

	f.clock.Advance(58 * time.Minute) // 1h58m
	one = f.rotate(one.Refresh)
	f.clock.Advance(32 * time.Minute) // 2h30m: idle end capped at the absolute end, 3h01m
	f.rotate(one.Refresh)
	t.Run("absolute end", func(t *testing.T) {
		check(t, list(t), []session.Info{
			{ID: id1, CreatedAt: at(time.Minute), LastUsedAt: at(150 * time.Minute), ExpiresAt: at(181 * time.Minute), UserAgent: "one", ClientAddr: "192.0.2.1"},
		})
	})

	f.clock.Advance(31 * time.Minute) // 3h01m
	t.Run("none live", func(t *testing.T) {
		check(t, list(t), nil)
	})
}

// TestAuthenticate: only a valid access token of a live session of its
// own user is admitted.
func TestAuthenticate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	foreign := newSigner(t, config{Options: f.cfg.Options, AccessTTL: time.Minute, foreign: true}, f.clock)
	u, other := f.user("auth@example.com"), f.user("other@example.com")
	toks := f.start(u.ID)
	sid := f.sid(toks.Refresh)
	ended := f.start(u.ID)
	if err := f.svc.Logout(t.Context(), ended.Access, "", session.ScopeCurrent); err != nil {
		t.Fatal(err)
	}
	sign := func(user, sid uuid.UUID) string {
		tok, err := f.tokens.Access(user, sid)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	foreignAccess, err := foreign.Access(u.ID, sid)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("valid", func(t *testing.T) {
		a, err := f.svc.Authenticate(t.Context(), toks.Access)
		if err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		if a.Session != sid || a.User.ID != u.ID || a.User.Email != u.Email || a.User.Name != u.Name || a.User.PasswordHash != u.PasswordHash {
			t.Errorf("Authenticate = session %s user %+v, want session %s user %+v", a.Session, a.User, sid, u)
		}
	})
	tests := []struct {
		name  string
		token string
	}{
		{"empty", ""},
		{"garbage", "not.a.token"},
		{"refresh token", toks.Refresh},
		{"foreign keys", foreignAccess},
		{"ended session", ended.Access},
		{"another user's session", sign(other.ID, sid)},
		{"unknown session", sign(u.ID, uuid.New())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if a, err := f.svc.Authenticate(t.Context(), tt.token); !errors.Is(err, session.ErrInvalid) {
				t.Errorf("Authenticate = %+v, %v; want ErrInvalid", a, err)
			}
		})
	}
}

// TestDatabaseDown: with PostgreSQL stopped every operation fails with
// db.ErrUnavailable, in time, never as a verdict on the caller's token or
// password; when it is back, service resumes.
func TestDatabaseDown(t *testing.T) {
	t.Parallel()
	srv := dbtest.NewCluster(t)
	pool, err := db.Connect(t.Context(), srv.URL(t), db.PoolOptions{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	f := newFixture(t, func(c *config) {
		c.Pool = pool
		c.DBTimeout = time.Second
		c.Options.LoginFailureThreshold = 1
		c.Options.LoginLockBase = time.Minute
		c.Options.LoginLockMax = time.Hour
	})
	const email = "down@example.com"
	u := f.user(email)
	toks := f.start(u.ID)
	sid := f.sid(toks.Refresh)
	if !f.alive(toks.Access) {
		t.Fatal("Authenticate refused before the outage")
	}
	srv.Stop(t)

	verdicts := []error{session.ErrInvalid, session.ErrBadCredentials, session.ErrNotFound, session.ErrEmailTaken}
	tests := []struct {
		name string
		do   func() error
	}{
		{"Authenticate", func() error { _, err := f.svc.Authenticate(t.Context(), toks.Access); return err }},
		{"Rotate", func() error { _, err := f.svc.Rotate(t.Context(), toks.Refresh); return err }},
		{"Login", func() error {
			_, _, err := f.svc.Login(t.Context(), email, "wrong password", session.Client{})
			return err
		}},
		{"Register", func() error {
			_, err := f.svc.Register(t.Context(), session.Registration{Name: "n", Email: "new@example.com", Password: testPassword, PasswordConfirm: testPassword})
			return err
		}},
		{"Start", func() error { _, err := f.svc.Start(t.Context(), u.ID, session.Client{}); return err }},
		{"Logout", func() error { return f.svc.Logout(t.Context(), toks.Access, "", session.ScopeAll) }},
		{"Revoke", func() error { return f.svc.Revoke(t.Context(), u.ID, sid) }},
		{"List", func() error { _, err := f.svc.List(t.Context(), u.ID); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := tt.do()
			if !errors.Is(err, db.ErrUnavailable) {
				t.Errorf("%s = %v, want db.ErrUnavailable", tt.name, err)
			}
			for _, v := range verdicts {
				if errors.Is(err, v) {
					t.Errorf("%s = %v: an outage reported as %q", tt.name, err, v)
				}
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("%s took %v", tt.name, d)
			}
		})
	}

	srv.Start(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := f.svc.Authenticate(t.Context(), toks.Access)
		if err == nil {
			break
		}
		if !errors.Is(err, db.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("Authenticate after the database came back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Nothing of the outage stuck: the failed login was not counted
	// (threshold 1 would have locked the email) and the session is live.
	if _, _, err := f.svc.Login(t.Context(), email, testPassword, session.Client{}); err != nil {
		t.Errorf("Login after recovery: %v", err)
	}
	if _, err := f.svc.Rotate(t.Context(), toks.Refresh); err != nil {
		t.Errorf("Rotate after recovery: %v", err)
	}
}
