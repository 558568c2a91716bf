package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/session"
)

// TestForgotPassword: a reset mail is queued for a verified and an
// unverified account alike, none for an unknown address, and all three
// answer nil after the same statements (look-up and allowance) save the
// queueing itself. A second request within the cool-down queues nothing
// and costs what an unknown address costs.
func TestForgotPassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn)
	ctx := t.Context()
	verified := f.user("verified@example.com")
	if _, err := f.q.VerifyUserEmail(ctx, db.VerifyUserEmailParams{ID: verified.ID, Email: verified.Email, Now: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	unverified := f.user("unverified@example.com")

	forgot := func(email string) int64 {
		t.Helper()
		before := f.stmts.calls.Load()
		if err := f.svc.ForgotPassword(ctx, email); err != nil {
			t.Fatalf("ForgotPassword(%q) = %v, want nil", email, err)
		}
		return f.stmts.calls.Load() - before
	}
	for _, tc := range []struct {
		email string
		user  uuid.UUID
		stmts int64
	}{
		{"verified@example.com", verified.ID, 4}, // look-up, allowance, queue, notify
		{" Unverified@Example.com ", unverified.ID, 4},
		{"nobody@example.com", uuid.Nil, 2}, // look-up, allowance
	} {
		if got := forgot(tc.email); got != tc.stmts {
			t.Errorf("%q: %d statements, want %d", tc.email, got, tc.stmts)
		}
		to := session.NormaliseEmail(tc.email)
		ms := f.mails("reset_password", to)
		if tc.user == uuid.Nil {
			if len(ms) != 0 {
				t.Errorf("%q: %d mails to an unknown address", tc.email, len(ms))
			}
			continue
		}
		if len(ms) != 1 || ms[0].UserID.UUID != tc.user || ms[0].Status != "pending" {
			t.Fatalf("%q: mails %+v, want one pending reset_password of %s", tc.email, ms, tc.user)
		}
		var data map[string]any
		if tc.user != verified.ID { // an unproven address: no name (issue 19 item 8)
			if err := json.Unmarshal(ms[0].Data, &data); err != nil || len(data) != 0 {
				t.Errorf("%q: data %s, want none", tc.email, ms[0].Data)
			}
		} else if err := json.Unmarshal(ms[0].Data, &data); err != nil || data["name"] != "Test User" || len(data) != 1 {
			t.Errorf("%q: data %s, want only the name", tc.email, ms[0].Data)
		}
	}

	// Within the cool-down: nothing queued, the unknown address's cost.
	if got := forgot("verified@example.com"); got != 2 {
		t.Errorf("within the cool-down: %d statements, want 2", got)
	}
	if n := len(f.mails("reset_password", "verified@example.com")); n != 1 {
		t.Errorf("within the cool-down: %d mails, want 1", n)
	}
	// After it, up to MailMaxPerHour (5) in the hour, then none until the
	// hour is over.
	for range 6 {
		f.clock.Advance(61 * time.Second)
		forgot("verified@example.com")
	}
	if n := len(f.mails("reset_password", "verified@example.com")); n != 5 {
		t.Errorf("after 7 requests spaced by the cool-down: %d mails, want 5 (the hourly cap)", n)
	}
	f.clock.Advance(time.Hour)
	forgot("verified@example.com")
	if n := len(f.mails("reset_password", "verified@example.com")); n != 6 {
		t.Errorf("an hour later: %d mails, want 6", n)
	}
}

func TestForgotPasswordMailOff(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.user("ada@example.com")
	if err := f.svc.ForgotPassword(t.Context(), "ada@example.com"); err != nil {
		t.Fatal(err)
	}
	if ms := f.mails("", ""); len(ms) != 0 {
		t.Errorf("mail off: %d mails queued", len(ms))
	}
}

// TestResetPassword: a reset sets the password, proves the address,
// deletes the other reset and email-change tokens (not the verification
// ones), clears failed logins, revokes every session with reason
// password_reset and queues a notice; its token then is used up.
func TestResetPassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn, func(c *config) {
		c.Options.LoginFailureThreshold = 5
		c.Options.LoginLockBase = time.Minute
		c.Options.LoginLockMax = time.Hour
	})
	ctx := t.Context()
	u := f.user("ada@example.com")
	s1, s2 := f.start(u.ID), f.start(u.ID)
	if _, _, err := f.svc.Login(ctx, u.Email, "wrong password", session.Client{}); !errors.Is(err, session.ErrBadCredentials) {
		t.Fatal(err)
	}
	if err := f.svc.ForgotPassword(ctx, u.Email); err != nil {
		t.Fatal(err)
	}
	raw := f.link("reset_password", u.Email)
	otherReset := f.mintToken("reset_password", u.ID, u.Email, time.Hour)
	change := f.mintToken("change_email", u.ID, "new@example.com", time.Hour)
	verify := f.mintToken("verify_email", u.ID, u.Email, time.Hour)

	if err := f.svc.ResetPassword(ctx, raw, "a new password", "a new password"); err != nil {
		t.Fatalf("ResetPassword: %v", err)
	}
	got := f.userByID(u.ID)
	if !got.Verified || got.EmailVerifiedAt == nil || got.PasswordChangedAt == nil {
		t.Errorf("after the reset: verified %v at %v, password changed at %v; want all set", got.Verified, got.EmailVerifiedAt, got.PasswordChangedAt)
	}
	for name, tok := range map[string]string{"used": raw, "other reset": otherReset, "email change": change} {
		if f.tokenExists(tok) {
			t.Errorf("the %s token survived the reset", name)
		}
	}
	if !f.tokenExists(verify) {
		t.Error("the verification token was deleted")
	}
	if _, err := f.q.GetLoginThrottle(ctx, u.Email); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("failed logins after the reset: %v, want none", err)
	}
	for i, toks := range []session.Tokens{s1, s2} {
		if f.alive(toks.Access) {
			t.Errorf("session %d still authenticates", i)
		}
		if _, err := f.svc.Rotate(ctx, toks.Refresh); !errors.Is(err, session.ErrInvalid) {
			t.Errorf("session %d refresh: %v, want ErrInvalid", i, err)
		}
		if r := f.reason(f.sid(toks.Refresh)); r != string(session.ReasonPasswordReset) {
			t.Errorf("session %d revoked_reason = %q, want password_reset", i, r)
		}
	}
	if ms := f.mails("password_changed", u.Email); len(ms) != 1 || ms[0].UserID.UUID != u.ID {
		t.Errorf("password_changed notices: %+v, want one", ms)
	}
	if _, _, err := f.svc.Login(ctx, u.Email, testPassword, session.Client{}); !errors.Is(err, session.ErrBadCredentials) {
		t.Errorf("login with the old password: %v, want ErrBadCredentials", err)
	}
	if _, _, err := f.svc.Login(ctx, u.Email, "a new password", session.Client{}); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
	if err := f.svc.ResetPassword(ctx, raw, "another password", "another password"); !errors.Is(err, session.ErrBadResetToken) {
		t.Errorf("second use: %v, want ErrBadResetToken", err)
	}
}

// TestResetPasswordBadTokens: every kind of bad token is ErrBadResetToken
// (which is also ErrTokenInvalid) and changes nothing; a stale one (sent
// to an address the user no longer has) is used up all the same.
func TestResetPasswordBadTokens(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn)
	ctx := t.Context()
	u := f.user("ada@example.com")
	expired := f.mintToken("reset_password", u.ID, u.Email, 15*time.Minute)
	stale := f.mintToken("reset_password", u.ID, u.Email, time.Hour)
	f.clock.Advance(16 * time.Minute)
	used := f.mintToken("reset_password", u.ID, u.Email, time.Hour)
	if err := f.svc.ResetPassword(ctx, used, testPassword, testPassword); err != nil {
		t.Fatal(err)
	}
	if _, err := f.q.ChangeUserEmail(ctx, db.ChangeUserEmailParams{ID: u.ID, OldEmail: u.Email, NewEmail: "ada@new.example.com", Now: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{
		"unknown":              strings.Repeat("A", 43),
		"empty":                "",
		"too long":             strings.Repeat("A", 10000),
		"expired":              expired,
		"used":                 used,
		"stale":                stale,
		"wrong purpose":        f.mintToken("verify_email", u.ID, "ada@new.example.com", time.Hour),
		"other user's purpose": f.mintToken("change_email", u.ID, "ada@new.example.com", time.Hour),
	} {
		err := f.svc.ResetPassword(ctx, tok, "hijacked password", "hijacked password")
		if !errors.Is(err, session.ErrBadResetToken) || !errors.Is(err, session.ErrTokenInvalid) {
			t.Errorf("%s: %v, want ErrBadResetToken", name, err)
		}
	}
	if f.tokenExists(stale) {
		t.Error("the stale token is still stored")
	}
	if _, _, err := f.svc.Login(ctx, "ada@new.example.com", testPassword, session.Client{}); err != nil {
		t.Errorf("the password changed: login %v", err)
	}
	if ms := f.mails("password_changed", ""); len(ms) != 1 {
		t.Errorf("%d password_changed notices, want 1 (the one good reset)", len(ms))
	}
}

// TestResetPasswordBadTokenIsCheap: a bad token costs one statement and no
// password hash. The only hashing slot is held by a login, so a hash would
// wait and fail with ErrBusy; a good token shows that it does.
func TestResetPasswordBadTokenIsCheap(t *testing.T) {
	t.Parallel()
	block, entered := make(chan struct{}), make(chan struct{})
	var once sync.Once
	f := newFixture(t, func(c *config) {
		// A given hash time: the estimate must not depend on how long the
		// dummy hash took on a loaded machine (a long one refuses at once).
		c.Hasher = password.Options{Cost: 4, Concurrency: 1, Queue: 2, Wait: 100 * time.Millisecond, HashTime: time.Microsecond,
			Compare: func(hash, pw []byte) error {
				once.Do(func() { close(entered) })
				<-block
				return nil
			}}
	})
	ctx := t.Context()
	u := f.user("ada@example.com")
	good := f.mintToken("reset_password", u.ID, u.Email, time.Hour)
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.svc.Login(ctx, u.Email, testPassword, session.Client{})
	}()
	defer func() { close(block); <-done }()
	<-entered

	before := f.stmts.calls.Load()
	if err := f.svc.ResetPassword(ctx, strings.Repeat("A", 43), "a new password", "a new password"); !errors.Is(err, session.ErrBadResetToken) {
		t.Errorf("bad token with hashing full: %v, want ErrBadResetToken", err)
	}
	if n := f.stmts.calls.Load() - before; n != 1 {
		t.Errorf("a bad token cost %d statements, want 1", n)
	}
	if err := f.svc.ResetPassword(ctx, good, "a new password", "a new password"); !errors.Is(err, password.ErrBusy) {
		t.Errorf("good token with hashing full: %v, want password.ErrBusy", err)
	}
}

// TestResetPasswordOnce: of 20 concurrent uses of one token exactly one
// succeeds.
func TestResetPasswordOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn)
	u := f.user("ada@example.com")
	raw := f.mintToken("reset_password", u.ID, u.Email, time.Hour)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ok, fail int
	)
	for i := range 20 {
		wg.Go(func() {
			pw := "new password " + string(rune('a'+i))
			err := f.svc.ResetPassword(t.Context(), raw, pw, pw)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, session.ErrBadResetToken):
				fail++
			default:
				t.Errorf("use %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if ok != 1 || fail != 19 {
		t.Errorf("%d succeeded and %d were refused, want 1 and 19", ok, fail)
	}
	if ms := f.mails("password_changed", u.Email); len(ms) != 1 {
		t.Errorf("%d notices, want 1", len(ms))
	}
}

// TestMailWakesSenders: queueing a mail notifies authd_mail at commit;
// a request that queues nothing notifies nobody.
func TestMailWakesSenders(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn)
	ctx := t.Context()
	f.user("ada@example.com")
	conn, err := f.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN authd_mail"); err != nil {
		t.Fatal(err)
	}
	wait := func(d time.Duration) bool {
		wctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		_, err := conn.Conn().WaitForNotification(wctx)
		return err == nil
	}
	if err := f.svc.ForgotPassword(ctx, "nobody@example.com"); err != nil {
		t.Fatal(err)
	}
	if wait(200 * time.Millisecond) {
		t.Error("a request that queued nothing notified the senders")
	}
	if err := f.svc.ForgotPassword(ctx, "ada@example.com"); err != nil {
		t.Fatal(err)
	}
	if !wait(5 * time.Second) {
		t.Error("queueing a mail did not notify the senders")
	}
}
