package session_test

import (
	"testing"
	"time"

	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/session"
)

// TestMailCapCountsRegistrationAndDeletion: registering an address,
// logging in and deleting the account, over and over, mails that address
// no more than its allowance: one mail of each kind per MAIL_COOLDOWN and
// MAIL_MAX_PER_HOUR of each kind an hour, the verification mails of the
// registrations and the deletion notices included.
func TestMailCapCountsRegistrationAndDeletion(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn, func(c *config) { c.Options.Verification = session.VerificationOptional })
	ctx := t.Context()
	const victim = "victim@example.com"
	cycle := func() {
		su, err := f.svc.Register(ctx, session.Registration{Name: "Mallory", Email: victim, Password: testPassword, PasswordConfirm: testPassword})
		if err != nil {
			t.Fatalf("register: %v", err)
		}
		toks, _, err := f.svc.Login(ctx, victim, testPassword, session.Client{})
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		if err := f.svc.DeleteAccount(ctx, f.authOf(toks.Access), testPassword); err != nil {
			t.Fatalf("delete %s: %v", su.User.ID, err)
		}
	}
	count := func() (verify, deleted int) {
		return len(f.mails(mail.KindVerifyEmail, victim)), len(f.mails(mail.KindAccountDeleted, victim))
	}
	// 13 rounds within seconds: one mail of each kind (the cool-down).
	for range 13 {
		cycle()
		f.clock.Advance(time.Second)
	}
	if v, d := count(); v != 1 || d != 1 {
		t.Errorf("within seconds: %d verification mails and %d deletion notices, want 1 and 1", v, d)
	}
	// A round every 61 s for the rest of the hour: at most 5 of each kind.
	for range 55 {
		f.clock.Advance(61 * time.Second)
		cycle()
	}
	if v, d := count(); v != 5 || d != 5 {
		t.Errorf("within the hour: %d verification mails and %d deletion notices, want 5 and 5", v, d)
	}
}

// TestResendBeforeRegistrationWithholdsNothing: resends asked for an
// address before it has an account (up to its cap) do not withhold the
// verification mail of its first registration.
func TestResendBeforeRegistrationWithholdsNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn, func(c *config) { c.Options.Verification = session.VerificationOptional })
	ctx := t.Context()
	const addr = "new@example.com"
	for range 5 {
		if err := f.svc.ResendVerification(ctx, addr); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(61 * time.Second)
	}
	f.user(addr)
	if n := len(f.mails(mail.KindVerifyEmail, addr)); n != 1 {
		t.Errorf("%d verification mails, want 1", n)
	}
}
