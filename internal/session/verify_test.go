package session_test

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/session"
)

func verification(v session.Verification) func(*config) {
	return func(c *config) { c.Options.Verification = v }
}

// TestRegisterVerification: with verification on, the user and a
// verification mail come together; off, as before, no mail.
func TestRegisterVerification(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode session.Verification
		mail bool
	}{
		{"", false},
		{session.VerificationOff, false},
		{session.VerificationOptional, true},
		{session.VerificationRequired, true},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, mailOn, verification(tc.mode))
			su, err := f.svc.Register(t.Context(), session.Registration{Name: "Ada", Email: "Ada@Example.com", Password: testPassword, PasswordConfirm: testPassword})
			if err != nil {
				t.Fatal(err)
			}
			if su.User.Email != "ada@example.com" || su.VerifyMail != tc.mail || su.Hidden {
				t.Errorf("Register = %+v, want the user, VerifyMail %v, not hidden", su, tc.mail)
			}
			if su.User.Verified {
				t.Error("a new user is verified")
			}
			ms := f.mails("verify_email", "ada@example.com")
			if !tc.mail {
				if len(ms) != 0 {
					t.Errorf("%d verification mails, want none", len(ms))
				}
				return
			}
			if len(ms) != 1 || ms[0].UserID.UUID != su.User.ID {
				t.Fatalf("mails %+v, want one verify_email of the user", ms)
			}
			var data map[string]any
			if json.Unmarshal(ms[0].Data, &data); data["name"] != nil { // unproven: no name (issue 19 item 8)
				t.Errorf("data %s, want no name", ms[0].Data)
			}
			// The registration counted against the address's allowance.
			if err := f.svc.ResendVerification(t.Context(), "ada@example.com"); err != nil {
				t.Fatal(err)
			}
			if n := len(f.mails("verify_email", "ada@example.com")); n != 1 {
				t.Errorf("a resend right after the registration queued a mail (%d)", n)
			}
		})
	}
}

// TestRegisterHideExisting: a taken address gets the new address's answer
// after the same hashing, creates nothing, and its owner a notice (once
// per cool-down). Without verification the setting has no effect.
func TestRegisterHideExisting(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn, verification(session.VerificationRequired), func(c *config) { c.Options.HideExisting = true })
	ctx := t.Context()
	reg := func(email string) session.Signup {
		t.Helper()
		su, err := f.svc.Register(ctx, session.Registration{Name: "Eve", Email: email, Password: "eve's password", PasswordConfirm: "eve's password"})
		if err != nil {
			t.Fatalf("Register(%s) = %v", email, err)
		}
		return su
	}
	owner := reg("owner@example.com")
	if !owner.Hidden || !owner.VerifyMail || owner.User.ID.String() == "" {
		t.Errorf("new address: %+v, want hidden with the user", owner)
	}
	for range 2 {
		if su := reg("Owner@example.com"); !su.Hidden || !su.VerifyMail || su.User.Email != "" {
			t.Errorf("taken address: %+v, want hidden without a user", su)
		}
	}
	if ms := f.mails("signup_attempt", "owner@example.com"); len(ms) != 1 || ms[0].UserID.UUID != owner.User.ID {
		t.Errorf("signup_attempt notices %+v, want one (the second within the cool-down)", ms)
	}
	if ms := f.mails("verify_email", "owner@example.com"); len(ms) != 1 {
		t.Errorf("%d verification mails, want 1 (the registration's)", len(ms))
	}
	// Unverified under hiding, the right password answers like a wrong one
	// (TestHideExistingSurvivesLogin); verified, the original password
	// logs in: the second sign-up changed nothing.
	if _, _, err := f.svc.Login(ctx, "owner@example.com", "eve's password", session.Client{}); !errors.Is(err, session.ErrBadCredentials) {
		t.Errorf("the original password, unverified: %v, want ErrBadCredentials", err)
	}
	if err := f.svc.VerifyEmail(ctx, f.link("verify_email", "owner@example.com")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.Login(ctx, "owner@example.com", "eve's password", session.Client{}); err != nil {
		t.Errorf("the original password: %v, want success (the second sign-up changed nothing)", err)
	}

	off := newFixture(t, mailOn, func(c *config) { c.Options.HideExisting = true })
	off.user("ada@example.com")
	if _, err := off.svc.Register(ctx, session.Registration{Name: "A", Email: "ada@example.com", Password: testPassword, PasswordConfirm: testPassword}); !errors.Is(err, session.ErrEmailTaken) {
		t.Errorf("hide-existing without verification: %v, want ErrEmailTaken", err)
	}
}

// TestLoginRequiresVerification: with verification required the password
// is checked first; only the right one learns that the address is not
// verified. Optional lets the user in.
func TestLoginRequiresVerification(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn, verification(session.VerificationRequired))
	ctx := t.Context()
	u := f.user("ada@example.com")
	if _, _, err := f.svc.Login(ctx, u.Email, "wrong password", session.Client{}); !errors.Is(err, session.ErrBadCredentials) {
		t.Errorf("wrong password: %v, want ErrBadCredentials", err)
	}
	if _, _, err := f.svc.Login(ctx, u.Email, testPassword, session.Client{}); !errors.Is(err, session.ErrEmailNotVerified) {
		t.Errorf("right password, unverified: %v, want ErrEmailNotVerified", err)
	}
	if n := len(f.mails("verify_email", u.Email)); n != 1 {
		t.Errorf("%d verification mails, want 1", n)
	}
	if err := f.svc.VerifyEmail(ctx, f.link("verify_email", u.Email)); err != nil {
		t.Fatalf("VerifyEmail: %v", err)
	}
	if _, _, err := f.svc.Login(ctx, u.Email, testPassword, session.Client{}); err != nil {
		t.Errorf("verified: %v", err)
	}

	opt := newFixture(t, mailOn, verification(session.VerificationOptional))
	opt.user("ada@example.com")
	if _, _, err := opt.svc.Login(ctx, "ada@example.com", testPassword, session.Client{}); err != nil {
		t.Errorf("optional, unverified: %v", err)
	}
}

// TestVerifyEmail: a code verifies its address once; the user's other codes
// go; a used, expired, stale or other-purpose code is
// ErrBadVerificationCode; a good code of a verified user is
// ErrAlreadyVerified and is used up.
func TestVerifyEmail(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn)
	ctx := t.Context()
	u := f.user("ada@example.com")
	code := f.mintToken("verify_email", u.ID, u.Email, time.Hour)
	sibling := f.mintToken("verify_email", u.ID, u.Email, time.Hour)
	reset := f.mintToken("reset_password", u.ID, u.Email, time.Hour)
	if err := f.svc.VerifyEmail(ctx, reset); !errors.Is(err, session.ErrBadVerificationCode) {
		t.Errorf("a reset token: %v, want ErrBadVerificationCode", err)
	}
	if !f.tokenExists(reset) {
		t.Error("a reset token presented as a code was used up")
	}
	if err := f.svc.VerifyEmail(ctx, code); err != nil {
		t.Fatalf("VerifyEmail: %v", err)
	}
	if got := f.userByID(u.ID); !got.Verified || got.EmailVerifiedAt == nil {
		t.Errorf("after verification: verified %v at %v", got.Verified, got.EmailVerifiedAt)
	}
	if f.tokenExists(sibling) {
		t.Error("the user's other code survived")
	}
	if err := f.svc.VerifyEmail(ctx, code); !errors.Is(err, session.ErrBadVerificationCode) {
		t.Errorf("second use: %v, want ErrBadVerificationCode", err)
	}
	again := f.mintToken("verify_email", u.ID, u.Email, time.Hour)
	if err := f.svc.VerifyEmail(ctx, again); !errors.Is(err, session.ErrAlreadyVerified) {
		t.Errorf("already verified: %v, want ErrAlreadyVerified", err)
	}
	if f.tokenExists(again) {
		t.Error("a code of a verified user was not used up")
	}

	v := f.user("bob@example.com")
	expired := f.mintToken("verify_email", v.ID, v.Email, time.Minute)
	stale := f.mintToken("verify_email", v.ID, v.Email, time.Hour)
	f.clock.Advance(2 * time.Minute)
	if err := f.svc.VerifyEmail(ctx, expired); !errors.Is(err, session.ErrBadVerificationCode) {
		t.Errorf("expired: %v, want ErrBadVerificationCode", err)
	}
	if _, err := f.q.ChangeUserEmail(ctx, db.ChangeUserEmailParams{ID: v.ID, OldEmail: v.Email, NewEmail: "bob@new.example.com", Now: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	// ChangeUserEmail verifies the new address; a code of the old one is stale.
	if err := f.svc.VerifyEmail(ctx, stale); !errors.Is(err, session.ErrBadVerificationCode) {
		t.Errorf("stale: %v, want ErrBadVerificationCode", err)
	}
	if f.tokenExists(stale) {
		t.Error("the stale code is still stored")
	}
}

// TestVerifyEmailOnce: of 20 concurrent uses of one code exactly one
// succeeds.
func TestVerifyEmailOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.user("ada@example.com")
	code := f.mintToken("verify_email", u.ID, u.Email, time.Hour)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ok, fail int
	)
	for range 20 {
		wg.Go(func() {
			err := f.svc.VerifyEmail(t.Context(), code)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, session.ErrBadVerificationCode):
				fail++
			default:
				t.Errorf("VerifyEmail: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 1 || fail != 19 {
		t.Errorf("%d succeeded and %d were refused, want 1 and 19", ok, fail)
	}
}

// TestResendVerification: a mail only for an unverified account within
// its allowance; every address answers nil after the same look-up and
// allowance.
func TestResendVerification(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn)
	ctx := t.Context()
	u := f.user("unverified@example.com")
	v := f.user("verified@example.com")
	if _, err := f.q.VerifyUserEmail(ctx, db.VerifyUserEmailParams{ID: v.ID, Email: v.Email, Now: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		email string
		stmts int64
		mails int
	}{
		{"unverified@example.com", 4, 1},
		{"verified@example.com", 2, 0},
		{"nobody@example.com", 2, 0},
		{"unverified@example.com", 2, 1}, // within the cool-down
	} {
		before := f.stmts.calls.Load()
		if err := f.svc.ResendVerification(ctx, tc.email); err != nil {
			t.Fatalf("ResendVerification(%s) = %v", tc.email, err)
		}
		if n := f.stmts.calls.Load() - before; n != tc.stmts {
			t.Errorf("%s: %d statements, want %d", tc.email, n, tc.stmts)
		}
		if n := len(f.mails("verify_email", tc.email)); n != tc.mails {
			t.Errorf("%s: %d mails, want %d", tc.email, n, tc.mails)
		}
	}
	if ms := f.mails("verify_email", u.Email); len(ms) != 1 || ms[0].UserID.UUID != u.ID {
		t.Errorf("mails %+v", ms)
	}
}
