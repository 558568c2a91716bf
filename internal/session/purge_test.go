package session_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/session"
	"github.com/authd/authd/internal/testenv"
)

// TestPurge: sessions whose lifetime ended, or that were revoked, more than
// a day before the service's clock are deleted; newer ones, and idled-out
// ones still within their lifetime, are kept. So are login failure counts
// younger than a day.
func TestPurge(t *testing.T) {
	t.Parallel()
	clk := testenv.NewClock()
	t0 := clk.Now()
	short := newFixture(t, func(c *config) {
		c.Clock = clk
		c.Options.SessionLifetime = time.Hour
	})
	long := newFixture(t, func(c *config) {
		c.Clock = clk
		c.Pool = short.pool
		c.Options.LoginFailureThreshold = 5
		c.Options.LoginLockBase = time.Second
		c.Options.LoginLockMax = time.Minute
	})
	ctx := t.Context()
	u := short.user("purge@example.com")
	revoked := func() uuid.UUID {
		t.Helper()
		toks := long.start(u.ID)
		if err := long.svc.Logout(ctx, toks.Access, "", session.ScopeCurrent); err != nil {
			t.Fatal(err)
		}
		return long.sid(toks.Refresh)
	}
	const failedEmail = "nobody@example.com"

	// At 0: one session ending at 1h, one revoked, one idling out at 1h
	// with a week to live, and a failed login.
	expires1h := short.sid(short.start(u.ID).Refresh)
	revoked0 := revoked()
	idle := long.sid(long.start(u.ID).Refresh)
	if _, _, err := long.svc.Login(ctx, failedEmail, "wrong", session.Client{}); !errors.Is(err, session.ErrBadCredentials) {
		t.Fatalf("failed login: %v", err)
	}
	// At 2h: one session ending at 3h, one revoked.
	clk.Advance(2 * time.Hour)
	expires3h := short.sid(short.start(u.ID).Refresh)
	revoked2h := revoked()

	exists := func(id uuid.UUID) func(*testing.T) bool {
		return func(t *testing.T) bool {
			_, err := short.q.GetSession(ctx, id)
			if err != nil && !errors.Is(err, db.ErrNotFound) {
				t.Fatal(err)
			}
			return err == nil
		}
	}
	rows := []struct {
		name   string
		exists func(*testing.T) bool
	}{
		{"ended at 1h", exists(expires1h)},
		{"revoked at 0", exists(revoked0)},
		{"ended at 3h", exists(expires3h)},
		{"revoked at 2h", exists(revoked2h)},
		{"idled out at 1h, lifetime a week", exists(idle)},
		{"login failure at 0", func(t *testing.T) bool {
			_, err := short.q.GetLoginThrottle(ctx, failedEmail)
			if err != nil && !errors.Is(err, db.ErrNotFound) {
				t.Fatal(err)
			}
			return err == nil
		}},
	}
	passes := []struct {
		at   time.Duration // since 0; the cutoff is a day earlier
		kept []bool        // by row
	}{
		{2 * time.Hour, []bool{true, true, true, true, true, true}},
		{24 * time.Hour, []bool{true, true, true, true, true, true}},
		{24*time.Hour + time.Second, []bool{true, false, true, true, true, false}},
		{25 * time.Hour, []bool{true, false, true, true, true, false}},
		{25*time.Hour + time.Second, []bool{false, false, true, true, true, false}},
		{26*time.Hour + time.Second, []bool{false, false, true, false, true, false}},
		{27*time.Hour + time.Second, []bool{false, false, false, false, true, false}},
	}
	for _, p := range passes {
		clk.Advance(t0.Add(p.at).Sub(clk.Now()))
		// Either service will do: they share the database and the clock.
		long.svc.Purge(ctx)
		for i, r := range rows {
			if got := r.exists(t); got != p.kept[i] {
				t.Errorf("Purge at %v: %s kept = %v, want %v", p.at, r.name, got, p.kept[i])
			}
		}
	}
}

// TestPurgeFlows: expired one-time tokens go at once, live ones stay; a
// mail allowance goes once its hour and cool-down are over, and with it
// nothing changes: the next request is allowed as if it were there.
func TestPurgeFlows(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn)
	ctx := t.Context()
	u := f.user("ada@example.com")
	short := f.mintToken("reset_password", u.ID, u.Email, 15*time.Minute)
	long := f.mintToken("verify_email", u.ID, u.Email, 24*time.Hour)
	if err := f.svc.ForgotPassword(ctx, u.Email); err != nil {
		t.Fatal(err)
	}
	allowances := func() int {
		var n int
		if err := f.pool.QueryRow(ctx, "SELECT count(*) FROM mail_throttle").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	f.clock.Advance(30 * time.Minute)
	f.svc.Purge(ctx)
	if f.tokenExists(short) || !f.tokenExists(long) {
		t.Errorf("after 30 minutes: expired token kept %v, live token kept %v; want false, true", f.tokenExists(short), f.tokenExists(long))
	}
	if n := allowances(); n != 1 {
		t.Errorf("after 30 minutes: %d mail allowances, want 1", n)
	}
	f.clock.Advance(31 * time.Minute)
	f.svc.Purge(ctx)
	if n := allowances(); n != 0 {
		t.Errorf("after 61 minutes: %d mail allowances, want 0", n)
	}
	if err := f.svc.ForgotPassword(ctx, u.Email); err != nil {
		t.Fatal(err)
	}
	if n := len(f.mails("reset_password", u.Email)); n != 2 {
		t.Errorf("%d reset mails after the purge, want 2", n)
	}
}
