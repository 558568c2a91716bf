package session_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/session"
)

// lure is a name chosen by whoever registers an address they need not own.
const lure = "WIN-A-PRIZE-AT-evil.example.net Mallory"

// nameOf is the name a queued mail greets with.
func nameOf(t *testing.T, m db.MailOutbox) string {
	t.Helper()
	var d mail.Data
	if err := json.Unmarshal(m.Data, &d); err != nil {
		t.Fatal(err)
	}
	return d.Name
}

// TestNoNameToUnprovenAddress: mails to an address that no one has proven
// (the verification mail, a reset link, the notices of an unverified
// account, an email-change link to the new address) carry none of the
// name its registrant chose; mails to a proven address greet by name.
func TestNoNameToUnprovenAddress(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn, func(c *config) {
		c.Options.Verification = session.VerificationOptional
		c.Options.MailCooldown = 0
	})
	ctx := t.Context()
	su, err := f.svc.Register(ctx, session.Registration{Name: lure, Email: "victim@example.com", Password: testPassword, PasswordConfirm: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	u := su.User
	access := f.start(u.ID).Access
	a := f.authOf(access)
	if err := f.svc.ChangePassword(ctx, a, testPassword, "a new password", "a new password"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.ForgotPassword(ctx, u.Email); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RequestEmailChange(ctx, f.authOf(access), "other@example.com", "a new password"); err != nil {
		t.Fatal(err)
	}
	unproven := f.mails("", "")
	if len(unproven) != 5 { // verify, reset, change link, change notice, password changed
		t.Fatalf("%d mails, want 5", len(unproven))
	}
	for _, m := range unproven {
		if n := nameOf(t, m); n != "" {
			t.Errorf("%s mail to %s greets %q", m.Kind, m.ToAddr, n)
		}
	}

	// Once the address is proven, its mails greet by name; the link to a
	// new address still does not.
	if _, _, err := f.svc.Admin().Verify(ctx, u.Email); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	a = f.authOf(f.start(u.ID).Access)
	if err := f.svc.RequestEmailChange(ctx, a, "third@example.com", "a new password"); err != nil {
		t.Fatal(err)
	}
	if ms := f.mails(mail.KindChangeEmail, "third@example.com"); len(ms) != 1 || nameOf(t, ms[0]) != "" {
		t.Errorf("the link to the new address: %d mails, greeting %q", len(ms), nameOf(t, ms[0]))
	}
	if ms := f.mails(mail.KindEmailChangeNotice, u.Email); len(ms) != 2 || nameOf(t, ms[0]) != lure {
		t.Errorf("the notice to the proven address: %d mails, greeting %q, want %q", len(ms), nameOf(t, ms[0]), lure)
	}
}
