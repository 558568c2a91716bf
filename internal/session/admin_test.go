package session_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/session"
)

// TestAdminCreate: an account with a role and a verified address, whose
// password logs in; the default name; the refusals, none of which writes.
func TestAdminCreate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	adm := f.svc.Admin()

	u, err := adm.Create(ctx, session.NewUser{Email: " Grace@Example.com", Name: "Grace Hopper", Password: "cobol-1959",
		Role: session.RoleAdmin, Verified: true})
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "grace@example.com" || u.Name != "Grace Hopper" || u.Role != "admin" || !u.Verified || u.EmailVerifiedAt == nil {
		t.Errorf("created %+v", u)
	}
	if got := f.userByID(u.ID); got.Role != "admin" || !got.Verified {
		t.Errorf("stored %+v", got)
	}
	if _, _, err := f.svc.Login(ctx, "grace@example.com", "cobol-1959", session.Client{}); err != nil {
		t.Errorf("login with the new password: %v", err)
	}

	plain, err := adm.Create(ctx, session.NewUser{Email: "alan@example.com", Password: "enigma-1940"})
	if err != nil {
		t.Fatal(err)
	}
	if plain.Name != "alan" || plain.Role != "user" || plain.Verified || plain.EmailVerifiedAt != nil {
		t.Errorf("default name, role and verification: %+v", plain)
	}

	for _, tc := range []struct {
		name string
		n    session.NewUser
		want error
	}{
		{"taken", session.NewUser{Email: "GRACE@example.com", Password: "whatever-1"}, session.ErrEmailTaken},
		{"bad email", session.NewUser{Email: "grace", Password: "whatever-1"}, &session.InvalidError{}},
		{"short password", session.NewUser{Email: "x@example.com", Password: "short"}, &session.InvalidError{}},
		{"bad role", session.NewUser{Email: "x@example.com", Password: "whatever-1", Role: "root"}, &session.InvalidError{}},
		{"bad name", session.NewUser{Email: "x@example.com", Name: "a\x1bb", Password: "whatever-1"}, &session.InvalidError{}},
	} {
		_, err := adm.Create(ctx, tc.n)
		var inv *session.InvalidError
		if _, want := tc.want.(*session.InvalidError); want && !errors.As(err, &inv) || !want && !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if users, err := adm.List(ctx, session.UserFilter{Limit: 100}); err != nil || len(users) != 2 {
		t.Errorf("after the refusals: %d users, %v; want 2", len(users), err)
	}
}

// TestAdminList: a prefix matches literally (% and _ are not wildcards),
// the unverified filter, the limit and its bounds; oldest first.
func TestAdminList(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	adm := f.svc.Admin()
	for _, e := range []string{"a_b@example.com", "axb@example.com", "a%c@example.com", "b@example.com"} {
		if strings.Contains(e, "%") {
			// Registration refuses % routing now; an account from before
			// the rule (or an adopted database) may still have one.
			if _, err := f.q.CreateUser(ctx, db.CreateUserParams{Name: "Test User", Email: e, PasswordHash: "x", Now: f.clock.Now()}); err != nil {
				t.Fatal(err)
			}
		} else {
			f.user(e)
		}
		f.clock.Advance(time.Second)
	}
	if _, _, err := adm.Verify(ctx, "axb@example.com"); err != nil {
		t.Fatal(err)
	}
	emails := func(f session.UserFilter) string {
		t.Helper()
		users, err := adm.List(ctx, f)
		if err != nil {
			t.Fatalf("List(%+v): %v", f, err)
		}
		var out []string
		for _, u := range users {
			out = append(out, u.Email)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		f    session.UserFilter
		want string
	}{
		{session.UserFilter{Limit: 100}, "a_b@example.com axb@example.com a%c@example.com b@example.com"},
		{session.UserFilter{EmailPrefix: "A_", Limit: 100}, "a_b@example.com"},
		{session.UserFilter{EmailPrefix: "a%", Limit: 100}, "a%c@example.com"},
		{session.UserFilter{EmailPrefix: "a", Limit: 100}, "a_b@example.com axb@example.com a%c@example.com"},
		{session.UserFilter{EmailPrefix: "a", Unverified: true, Limit: 100}, "a_b@example.com a%c@example.com"},
		{session.UserFilter{Limit: 2}, "a_b@example.com axb@example.com"},
		{session.UserFilter{EmailPrefix: "z", Limit: 100}, ""},
	} {
		if got := emails(tc.f); got != tc.want {
			t.Errorf("List(%+v) = %q, want %q", tc.f, got, tc.want)
		}
	}
	for _, limit := range []int{-1, 0, session.MaxListed + 1} {
		var inv *session.InvalidError
		if _, err := adm.List(ctx, session.UserFilter{Limit: limit}); !errors.As(err, &inv) {
			t.Errorf("limit %d: %v, want an *InvalidError", limit, err)
		}
	}
}

// TestAdminShow: the live sessions (not revoked or expired ones) and the
// login throttle's count and lock; an unknown address is ErrNoUser.
func TestAdminShow(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *config) {
		c.Options.LoginFailureThreshold = 2
		c.Options.LoginLockBase = time.Minute
		c.Options.LoginLockMax = time.Hour
	})
	ctx := t.Context()
	adm := f.svc.Admin()
	u := f.user("ada@example.com")
	f.start(u.ID)
	gone := f.start(u.ID)
	f.start(u.ID)
	if err := f.svc.Logout(ctx, gone.Access, "", session.ScopeCurrent); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		f.svc.Login(ctx, "ada@example.com", "wrong password", session.Client{})
	}
	acct, err := adm.Show(ctx, " ADA@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if acct.User.ID != u.ID || acct.LiveSessions != 2 || acct.FailedLogins != 2 || acct.LockedUntil == nil {
		t.Errorf("Show = %+v, want 2 live sessions, 2 failures and a lock", acct)
	}
	f.clock.Advance(2 * time.Hour) // past the sessions' idle end and the lock
	if acct, err = adm.Show(ctx, "ada@example.com"); err != nil || acct.LiveSessions != 0 || acct.LockedUntil != nil {
		t.Errorf("two hours later: %+v, %v; want no live session and no lock", acct, err)
	}
	if _, err := adm.Show(ctx, "nobody@example.com"); !errors.Is(err, session.ErrNoUser) {
		t.Errorf("unknown address: %v, want ErrNoUser", err)
	}
}

// TestAdminVerify: the address becomes verified and the verification
// codes go; a second time it was already.
func TestAdminVerify(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	u := f.user("ada@example.com")
	code := f.mintToken("verify_email", u.ID, u.Email, time.Hour)
	got, already, err := f.svc.Admin().Verify(ctx, "ada@example.com")
	if err != nil || already || !got.Verified {
		t.Fatalf("Verify = %+v, %v, %v", got, already, err)
	}
	if s := f.userByID(u.ID); !s.Verified || s.EmailVerifiedAt == nil {
		t.Errorf("stored %+v, want verified with a time", s)
	}
	if f.tokenExists(code) {
		t.Error("the verification code outlived the verification")
	}
	if _, already, err := f.svc.Admin().Verify(ctx, "ada@example.com"); err != nil || !already {
		t.Errorf("again: already %v, %v; want true, nil", already, err)
	}
	if _, _, err := f.svc.Admin().Verify(ctx, "nobody@example.com"); !errors.Is(err, session.ErrNoUser) {
		t.Errorf("unknown address: %v", err)
	}
}

// TestAdminLastAdmin: the only admin can be neither demoted nor deleted;
// with two, one can go, and then the other is the last.
func TestAdminLastAdmin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	adm := f.svc.Admin()
	a := f.user("a@example.com")
	if _, unchanged, err := adm.SetRole(ctx, "a@example.com", "admin"); err != nil || unchanged {
		t.Fatalf("promote: %v, unchanged %v", err, unchanged)
	}
	if _, unchanged, err := adm.SetRole(ctx, "a@example.com", "admin"); err != nil || !unchanged {
		t.Errorf("promote again: %v, unchanged %v; want nil, true", err, unchanged)
	}
	if _, _, err := adm.SetRole(ctx, "a@example.com", "user"); !errors.Is(err, session.ErrLastAdminDemoted) {
		t.Errorf("demote the only admin: %v, want ErrLastAdminDemoted", err)
	}
	if _, _, err := adm.Delete(ctx, "a@example.com"); !errors.Is(err, session.ErrLastAdmin) {
		t.Errorf("delete the only admin: %v, want ErrLastAdmin", err)
	}
	var inv *session.InvalidError
	if _, _, err := adm.SetRole(ctx, "a@example.com", "superuser"); !errors.As(err, &inv) {
		t.Errorf("unknown role: %v", err)
	}
	if got := f.userByID(a.ID); got.Role != "admin" {
		t.Fatalf("after the refusals: role %q", got.Role)
	}

	f.user("b@example.com")
	if _, _, err := adm.SetRole(ctx, "b@example.com", "admin"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := adm.SetRole(ctx, "a@example.com", "user"); err != nil {
		t.Errorf("demote one of two admins: %v", err)
	}
	if _, _, err := adm.Delete(ctx, "b@example.com"); !errors.Is(err, session.ErrLastAdmin) {
		t.Errorf("delete the admin left: %v, want ErrLastAdmin", err)
	}
	if _, _, err := adm.Delete(ctx, "a@example.com"); err != nil {
		t.Errorf("delete a user: %v", err)
	}
}

// TestAdminLastAdminRace: two admins demoted at once, and two deleted at
// once: one of each pair goes through, never both.
func TestAdminLastAdminRace(t *testing.T) {
	t.Parallel()
	for _, op := range []string{"demote", "delete"} {
		t.Run(op, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			ctx := t.Context()
			adm := f.svc.Admin()
			for _, e := range []string{"a@example.com", "b@example.com"} {
				if _, err := adm.Create(ctx, session.NewUser{Email: e, Password: testPassword, Role: "admin"}); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, e := range []string{"a@example.com", "b@example.com"} {
				wg.Go(func() {
					if op == "demote" {
						_, _, errs[i] = adm.SetRole(ctx, e, "user")
					} else {
						_, _, errs[i] = adm.Delete(ctx, e)
					}
				})
			}
			wg.Wait()
			if (errs[0] == nil) == (errs[1] == nil) {
				t.Fatalf("errors %v, want exactly one refusal", errs)
			}
			var n int
			if err := f.pool.QueryRow(ctx, "SELECT count(*) FROM users WHERE role = 'admin'").Scan(&n); err != nil || n != 1 {
				t.Errorf("%d admins left (%v), want 1", n, err)
			}
		})
	}
}

// TestAdminSetPassword: every session ends at once (their access tokens
// stop), the reset and email-change tokens go, the login throttle is
// cleared, a notice is queued; the new password logs in, the old does not;
// the address stays unverified. A bad password or address changes nothing.
func TestAdminSetPassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn, func(c *config) {
		c.Options.LoginFailureThreshold = 1
		c.Options.LoginLockBase = time.Minute
		c.Options.LoginLockMax = time.Hour
	})
	ctx := t.Context()
	adm := f.svc.Admin()
	u := f.user("ada@example.com")
	one, two := f.start(u.ID), f.start(u.ID)
	reset := f.mintToken("reset_password", u.ID, u.Email, time.Hour)
	change := f.mintToken("change_email", u.ID, "new@example.com", time.Hour)
	verify := f.mintToken("verify_email", u.ID, u.Email, time.Hour)
	f.svc.Login(ctx, "ada@example.com", "wrong password", session.Client{}) // locks the address

	var inv *session.InvalidError
	if _, _, err := adm.SetPassword(ctx, "ada@example.com", "short"); !errors.As(err, &inv) {
		t.Errorf("short password: %v", err)
	}
	if _, _, err := adm.SetPassword(ctx, "nobody@example.com", "long enough"); !errors.Is(err, session.ErrNoUser) {
		t.Errorf("unknown address: %v", err)
	}
	if !f.alive(one.Access) {
		t.Fatal("a refused set-password ended a session")
	}

	got, revoked, err := adm.SetPassword(ctx, "ada@example.com", "a new password")
	if err != nil || revoked != 2 || got.ID != u.ID {
		t.Fatalf("SetPassword = %v, %d revoked; want 2", err, revoked)
	}
	for _, s := range []session.Tokens{one, two} {
		if f.alive(s.Access) {
			t.Error("an access token still works after set-password")
		}
		if r := f.reason(f.sid(s.Refresh)); r != "password_set_by_admin" {
			t.Errorf("revoked_reason %q", r)
		}
		if _, err := f.svc.Rotate(ctx, s.Refresh); !errors.Is(err, session.ErrInvalid) {
			t.Errorf("refresh after set-password: %v", err)
		}
	}
	if f.tokenExists(reset) || f.tokenExists(change) {
		t.Error("a reset or email-change token outlived set-password")
	}
	if !f.tokenExists(verify) {
		t.Error("the verification code went too")
	}
	if _, err := f.q.GetLoginThrottle(ctx, "ada@example.com"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("login throttle after set-password: %v, want none", err)
	}
	if _, _, err := f.svc.Login(ctx, "ada@example.com", "a new password", session.Client{}); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
	if _, _, err := f.svc.Login(ctx, "ada@example.com", testPassword, session.Client{}); !errors.Is(err, session.ErrBadCredentials) {
		t.Errorf("login with the old password: %v", err)
	}
	if ms := f.mails("password_changed", "ada@example.com"); len(ms) != 1 {
		t.Errorf("%d password_changed notices, want 1", len(ms))
	}
	if s := f.userByID(u.ID); s.Verified || s.PasswordChangedAt == nil {
		t.Errorf("stored %+v: want unverified, password_changed_at set", s)
	}
}

// TestAdminRevokeSessions ends every session as revoked_by_admin.
func TestAdminRevokeSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	u := f.user("ada@example.com")
	other := f.start(f.user("bob@example.com").ID)
	s := f.start(u.ID)
	_, n, err := f.svc.Admin().RevokeSessions(ctx, "ada@example.com")
	if err != nil || n != 1 {
		t.Fatalf("RevokeSessions = %d, %v; want 1", n, err)
	}
	if f.alive(s.Access) || f.reason(f.sid(s.Refresh)) != "revoked_by_admin" {
		t.Error("the session still works, or has another reason")
	}
	if !f.alive(other.Access) {
		t.Error("another user's session ended")
	}
	if _, n, err := f.svc.Admin().RevokeSessions(ctx, "ada@example.com"); err != nil || n != 0 {
		t.Errorf("again: %d, %v; want 0, nil", n, err)
	}
}

// TestAdminResetToken: the token is a reset token that ResetPassword takes
// once, until its expiry; the ttl's bounds.
func TestAdminResetToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	adm := f.svc.Admin()
	u := f.user("ada@example.com")
	s := f.start(u.ID)

	rt, err := adm.ResetToken(ctx, "Ada@example.com", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(rt.Token) != 43 || rt.User.ID != u.ID || !rt.ExpiresAt.Equal(f.clock.Now().Add(24*time.Hour)) {
		t.Errorf("ResetToken = %+v", rt)
	}
	f.clock.Advance(23 * time.Hour)
	if err := f.svc.ResetPassword(ctx, rt.Token, "reset by link", "reset by link"); err != nil {
		t.Fatalf("ResetPassword with the token: %v", err)
	}
	if err := f.svc.ResetPassword(ctx, rt.Token, "reset by link 2", "reset by link 2"); !errors.Is(err, session.ErrBadResetToken) {
		t.Errorf("the token a second time: %v, want ErrBadResetToken", err)
	}
	if f.alive(s.Access) {
		t.Error("the session outlived the reset")
	}
	if _, _, err := f.svc.Login(ctx, "ada@example.com", "reset by link", session.Client{}); err != nil {
		t.Errorf("login with the reset password: %v", err)
	}

	late, err := adm.ResetToken(ctx, "ada@example.com", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	if err := f.svc.ResetPassword(ctx, late.Token, "too late now", "too late now"); !errors.Is(err, session.ErrBadResetToken) {
		t.Errorf("an expired token: %v", err)
	}
	for _, ttl := range []time.Duration{0, 59 * time.Second, 7*24*time.Hour + time.Second} {
		var inv *session.InvalidError
		if _, err := adm.ResetToken(ctx, "ada@example.com", ttl); !errors.As(err, &inv) {
			t.Errorf("ttl %s: %v, want an *InvalidError", ttl, err)
		}
	}
	if _, err := adm.ResetToken(ctx, "nobody@example.com", time.Hour); !errors.Is(err, session.ErrNoUser) {
		t.Errorf("unknown address: %v", err)
	}
}

// TestAdminDelete: the account, its sessions and tokens go, the throttle
// is cleared, the notice is queued.
func TestAdminDelete(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn)
	ctx := t.Context()
	u := f.user("ada@example.com")
	s := f.start(u.ID)
	reset := f.mintToken("reset_password", u.ID, u.Email, time.Hour)
	got, n, err := f.svc.Admin().Delete(ctx, "ada@example.com")
	if err != nil || n != 1 || got.ID != u.ID {
		t.Fatalf("Delete = %v, %d sessions", err, n)
	}
	if _, err := f.q.GetUserByID(ctx, u.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("the user is still there: %v", err)
	}
	if f.alive(s.Access) || f.tokenExists(reset) {
		t.Error("a session or a token outlived the account")
	}
	if ms := f.mails("account_deleted", "ada@example.com"); len(ms) != 1 {
		t.Errorf("%d account_deleted notices, want 1", len(ms))
	}
	if _, _, err := f.svc.Admin().Delete(ctx, "ada@example.com"); !errors.Is(err, session.ErrNoUser) {
		t.Errorf("again: %v, want ErrNoUser", err)
	}
}
