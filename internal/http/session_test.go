package http

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/internal/token"
)

// loginTokens registers and logs in a user, returning access and refresh tokens.
func (f *fixture) loginTokens(email string) (access, refresh string) {
	f.t.Helper()
	f.register(nil, email)
	r := f.login(nil, email)
	return r.str("access_token"), r.cookie(refreshCookie).Value
}

func (f *fixture) mustRefresh(tok string) (access, refresh string) {
	f.t.Helper()
	r := f.refreshWith(tok)
	if r.status != http.StatusOK {
		f.t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
	return r.str("access_token"), r.cookie(refreshCookie).Value
}

func (f *fixture) meStatus(access string) int {
	f.t.Helper()
	return f.do(nil, "GET", "/api/users/me", nil, "Authorization", "Bearer "+access).status
}

func TestRefreshRotates(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, r0 := f.loginTokens("rotate@example.com")
	f.clock.Advance(time.Second)
	_, r1 := f.mustRefresh(r0)
	if r1 == r0 {
		t.Fatal("refresh token did not change")
	}
	// Within the grace window the old token gets the current successor.
	f.clock.Advance(5 * time.Second)
	_, again := f.mustRefresh(r0)
	c1, _ := f.tokens.Verify(token.Refresh, r1)
	c2, _ := f.tokens.Verify(token.Refresh, again)
	if c1.ID != c2.ID || c1.Generation != c2.Generation {
		t.Errorf("grace answer is not the successor: %+v vs %+v", c1, c2)
	}
	// The successor still works (the grace answer did not fork or advance).
	f.clock.Advance(time.Second)
	_, r2 := f.mustRefresh(r1)
	// After the window the old token is reuse: it fails and ends the session.
	f.clock.Advance(20 * time.Second)
	if r := f.refreshWith(r1); r.status != http.StatusForbidden {
		t.Fatalf("old token after grace: %d %s", r.status, r.raw)
	}
	if r := f.refreshWith(r2); r.status != http.StatusForbidden {
		t.Errorf("newest token after reuse detection: %d", r.status)
	}
}

func TestGraceZero(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(d *testDeps) { d.Options.ReuseGrace = 0 })
	_, r0 := f.loginTokens("nograce@example.com")
	f.clock.Advance(time.Second)
	_, r1 := f.mustRefresh(r0)
	if r := f.refreshWith(r0); r.status != http.StatusForbidden {
		t.Fatalf("old token with no grace: %d", r.status)
	}
	if r := f.refreshWith(r1); r.status != http.StatusForbidden {
		t.Errorf("successor after reuse: %d", r.status)
	}
}

// TestReplayAnyOldToken: in a chain of three rotations, replaying any old
// token revokes the session, newest refresh and access tokens included.
func TestReplayAnyOldToken(t *testing.T) {
	t.Parallel()
	for i := range 3 {
		t.Run(string(rune('a'+i)), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			_, tok := f.loginTokens("chain@example.com")
			chain := []string{tok}
			var access string
			for range 3 {
				f.clock.Advance(time.Minute) // beyond the grace window each time
				access, tok = f.mustRefresh(tok)
				chain = append(chain, tok)
			}
			f.clock.Advance(time.Minute)
			if r := f.refreshWith(chain[i]); r.status != http.StatusForbidden {
				t.Fatalf("replay of generation %d: %d", i, r.status)
			}
			if r := f.refreshWith(chain[3]); r.status != http.StatusForbidden {
				t.Errorf("newest refresh token after replay: %d", r.status)
			}
			if got := f.meStatus(access); got != http.StatusUnauthorized {
				t.Errorf("newest access token after replay: %d", got)
			}
			if !strings.Contains(f.logs.String(), "refresh token reuse detected") {
				t.Error("reuse was not logged")
			}
		})
	}
}

// TestConcurrentRefresh: 20 refreshes with one token never fork the session.
func TestConcurrentRefresh(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, r0 := f.loginTokens("race@example.com")
	f.clock.Advance(time.Second)
	const n = 20
	var wg sync.WaitGroup
	replies := make([]reply, n)
	for i := range n {
		wg.Go(func() { replies[i] = f.refreshWith(r0) })
	}
	wg.Wait()
	ids := map[string]bool{}
	for _, r := range replies {
		if r.status != http.StatusOK {
			t.Errorf("concurrent refresh: %d %s", r.status, r.raw)
			continue
		}
		c, err := f.tokens.Verify(token.Refresh, r.cookie(refreshCookie).Value)
		if err != nil {
			t.Fatal(err)
		}
		ids[c.ID] = true
	}
	if len(ids) != 1 {
		t.Errorf("successors = %d distinct, want 1", len(ids))
	}
	var gen int64
	if err := f.pool.QueryRow(t.Context(), "SELECT generation FROM sessions").Scan(&gen); err != nil {
		t.Fatal(err)
	}
	if gen != 1 {
		t.Errorf("generation = %d, want 1", gen)
	}
}

// TestLogoutRacingRefresh: whatever the order, no token outlives the logout.
func TestLogoutRacingRefresh(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for i := range 5 {
		access, r0 := f.loginTokens("lr" + string(rune('a'+i)) + "@example.com")
		var wg sync.WaitGroup
		var ref reply
		wg.Go(func() { ref = f.refreshWith(r0) })
		wg.Go(func() { f.do(nil, "POST", "/api/auth/logout", nil, "Authorization", "Bearer "+access) })
		wg.Wait()
		if ref.status == http.StatusOK {
			if got := f.meStatus(ref.str("access_token")); got != http.StatusUnauthorized {
				t.Errorf("access token from a refresh racing logout: %d", got)
			}
			if r := f.refreshWith(ref.cookie(refreshCookie).Value); r.status != http.StatusForbidden {
				t.Errorf("refresh token from a refresh racing logout: %d", r.status)
			}
		}
		if got := f.meStatus(access); got != http.StatusUnauthorized {
			t.Errorf("access token after logout: %d", got)
		}
	}
}

func TestIdleAndAbsoluteExpiry(t *testing.T) {
	t.Parallel()
	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		_, r0 := f.loginTokens("idle@example.com")
		f.clock.Advance(59 * time.Minute)
		_, r1 := f.mustRefresh(r0) // renews the idle timeout
		f.clock.Advance(59 * time.Minute)
		_, r2 := f.mustRefresh(r1)
		f.clock.Advance(61 * time.Minute)
		if r := f.refreshWith(r2); r.status != http.StatusForbidden {
			t.Errorf("refresh after idle timeout: %d", r.status)
		}
	})
	t.Run("absolute", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, func(d *testDeps) { d.Options.SessionLifetime = 3 * time.Hour })
		_, tok := f.loginTokens("abs@example.com")
		for range 5 { // 2h30m of activity
			f.clock.Advance(30 * time.Minute)
			_, tok = f.mustRefresh(tok)
		}
		f.clock.Advance(31 * time.Minute) // 3h01m after login, refresh token still within its idle TTL
		if r := f.refreshWith(tok); r.status != http.StatusForbidden {
			t.Errorf("refresh past the absolute lifetime: %d", r.status)
		}
	})
	t.Run("access after session expiry", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, func(d *testDeps) {
			d.Options.SessionLifetime = 10 * time.Minute
			d.Options.RefreshTTL = 10 * time.Minute
		})
		access, _ := f.loginTokens("abs2@example.com")
		f.clock.Advance(11 * time.Minute) // access token (15m) still valid, session not
		if got := f.meStatus(access); got != http.StatusUnauthorized {
			t.Errorf("access token of an expired session: %d", got)
		}
	})
}

func TestLogoutScopes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(nil, "scopes@example.com")
	var access, refresh [3]string
	for i := range 3 {
		r := f.login(nil, "scopes@example.com")
		access[i], refresh[i] = r.str("access_token"), r.cookie(refreshCookie).Value
	}
	// others: sessions 1 and 2 end, 0 stays, cookies stay.
	r := f.do(nil, "POST", "/api/auth/logout?scope=others", nil, "Authorization", "Bearer "+access[0])
	if r.status != http.StatusOK || r.cookie(accessCookie) != nil {
		t.Fatalf("logout others: %d %v", r.status, r.header["Set-Cookie"])
	}
	for i, want := range []int{200, 401, 401} {
		if got := f.meStatus(access[i]); got != want {
			t.Errorf("after scope=others, session %d: %d, want %d", i, got, want)
		}
	}
	// Only the refresh cookie: logout still finds and ends the session.
	r = f.do(nil, "POST", "/api/auth/logout", nil, "Cookie", refreshCookie+"="+refresh[0])
	if r.status != http.StatusOK {
		t.Fatal(r.raw)
	}
	if got := f.meStatus(access[0]); got != http.StatusUnauthorized {
		t.Errorf("after refresh-cookie logout: %d", got)
	}
	// all: every session.
	r0, r1 := f.login(nil, "scopes@example.com"), f.login(nil, "scopes@example.com")
	f.do(nil, "POST", "/api/auth/logout?scope=all", nil, "Authorization", "Bearer "+r0.str("access_token"))
	for _, rr := range []reply{r0, r1} {
		if got := f.meStatus(rr.str("access_token")); got != http.StatusUnauthorized {
			t.Errorf("after scope=all: %d", got)
		}
	}
}

func TestSessionEndpoints(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(nil, "alice@example.com")
	a1 := f.login(nil, "alice@example.com")
	a2 := f.do(nil, "POST", "/api/auth/login", map[string]string{"email": "alice@example.com", "password": "correct horse"}, "User-Agent", "second-device")
	bobAccess, _ := f.loginTokens("bob@example.com")

	list := f.do(nil, "GET", "/api/users/me/sessions", nil, "Authorization", "Bearer "+a1.str("access_token"))
	if list.status != http.StatusOK {
		t.Fatal(list.raw)
	}
	sessions := list.body["data"].(map[string]any)["sessions"].([]any)
	if len(sessions) != 2 {
		t.Fatalf("alice has %d sessions listed, want 2: %s", len(sessions), list.raw)
	}
	var current, other string
	for _, s := range sessions {
		m := s.(map[string]any)
		if m["current"] == true {
			current = m["id"].(string)
		} else {
			other = m["id"].(string)
			if m["user_agent"] != "second-device" {
				t.Errorf("user_agent = %v", m["user_agent"])
			}
		}
	}
	if current == "" || other == "" {
		t.Fatalf("current/other not marked: %s", list.raw)
	}
	// Bob cannot see or end Alice's sessions.
	if r := f.do(nil, "DELETE", "/api/users/me/sessions/"+other, nil, "Authorization", "Bearer "+bobAccess); r.status != http.StatusNotFound {
		t.Errorf("bob deleting alice's session: %d", r.status)
	}
	if got := f.meStatus(a2.str("access_token")); got != http.StatusOK {
		t.Errorf("alice's session after bob's attempt: %d", got)
	}
	bobList := f.do(nil, "GET", "/api/users/me/sessions", nil, "Authorization", "Bearer "+bobAccess)
	if n := len(bobList.body["data"].(map[string]any)["sessions"].([]any)); n != 1 {
		t.Errorf("bob sees %d sessions, want 1", n)
	}
	// Alice ends her other session.
	if r := f.do(nil, "DELETE", "/api/users/me/sessions/"+other, nil, "Authorization", "Bearer "+a1.str("access_token")); r.status != http.StatusOK {
		t.Errorf("alice deleting her session: %d %s", r.status, r.raw)
	}
	if got := f.meStatus(a2.str("access_token")); got != http.StatusUnauthorized {
		t.Errorf("ended session still works: %d", got)
	}
	if r := f.do(nil, "DELETE", "/api/users/me/sessions/"+other, nil, "Authorization", "Bearer "+a1.str("access_token")); r.status != http.StatusNotFound {
		t.Errorf("deleting twice: %d", r.status)
	}
}

func TestTokenKindsNotInterchangeable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	access, refresh := f.loginTokens("kinds@example.com")
	if got := f.meStatus(refresh); got != http.StatusUnauthorized {
		t.Errorf("refresh token as access token: %d", got)
	}
	if r := f.refreshWith(access); r.status != http.StatusForbidden {
		t.Errorf("access token as refresh token: %d", r.status)
	}
}
