package session_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/session"
)

// dataOf is the data of a queued mail.
func dataOf(t *testing.T, m db.MailOutbox) mail.Data {
	t.Helper()
	var d mail.Data
	if err := json.Unmarshal(m.Data, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestNoticesWithinRecipientAllowance: password changes and email-change
// requests, over and over and to fresh new addresses, mail the account's
// own address no more than its allowance of each notice kind (one per
// MAIL_COOLDOWN, MAIL_MAX_PER_HOUR an hour); the changes themselves still
// happen.
func TestNoticesWithinRecipientAllowance(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn)
	ctx := t.Context()
	const victim = "victim@example.com"
	u := f.user(victim)
	pws := [2]string{testPassword, "another password"}
	round := 0
	cycle := func() {
		cur, next := pws[round%2], pws[(round+1)%2]
		access := f.start(u.ID).Access
		if err := f.svc.ChangePassword(ctx, f.authOf(access), cur, next, next); err != nil {
			t.Fatalf("change password: %v", err)
		}
		if err := f.svc.RequestEmailChange(ctx, f.authOf(access), fmt.Sprintf("fresh%d@example.net", round), next); err != nil {
			t.Fatalf("request email change: %v", err)
		}
		round++
	}
	count := func() (changed, notices int) {
		return len(f.mails(mail.KindPasswordChanged, victim)), len(f.mails(mail.KindEmailChangeNotice, victim))
	}
	// 20 rounds within 40 s: one notice of each kind (the cool-down).
	for range 20 {
		cycle()
		f.clock.Advance(2 * time.Second)
	}
	if c, n := count(); c != 1 || n != 1 {
		t.Errorf("within 40 s: %d password-changed and %d email-change notices, want 1 and 1", c, n)
	}
	// A round every 61 s for the rest of the hour: at most 5 of each kind.
	for range 55 {
		f.clock.Advance(61 * time.Second)
		cycle()
	}
	if c, n := count(); c != 5 || n != 5 {
		t.Errorf("within the hour: %d password-changed and %d email-change notices, want 5 and 5", c, n)
	}
	// The changes happened: every fresh address got its link, and the last
	// password is the account's.
	if n := len(f.mails(mail.KindChangeEmail, "")); n != round {
		t.Errorf("%d email-change links, want %d", n, round)
	}
	if _, _, err := f.svc.Login(ctx, victim, pws[round%2], session.Client{}); err != nil {
		t.Errorf("login with the last password: %v", err)
	}
}

// TestEmailChangeNoticeShowsNewAddressOnlyWhenProven: the notice to the
// old address names the address asked for only if the old address is
// proven; to an address no one has proven it names none, so whoever
// registered it cannot mail it text of their choosing.
func TestEmailChangeNoticeShowsNewAddressOnlyWhenProven(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn)
	ctx := t.Context()
	const lureAddr = "win-a-prize-at-evil.example.net-call-now@example.org"
	u := f.user("victim@example.com")
	if err := f.svc.RequestEmailChange(ctx, f.authOf(f.start(u.ID).Access), lureAddr, testPassword); err != nil {
		t.Fatal(err)
	}
	ms := f.mails(mail.KindEmailChangeNotice, u.Email)
	if len(ms) != 1 {
		t.Fatalf("%d notices, want 1", len(ms))
	}
	if d := dataOf(t, ms[0]); d.NewEmail != "" {
		t.Errorf("the notice to an unproven address names %q", d.NewEmail)
	}

	if _, _, err := f.svc.Admin().Verify(ctx, u.Email); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	if err := f.svc.RequestEmailChange(ctx, f.authOf(f.start(u.ID).Access), "mine@example.org", testPassword); err != nil {
		t.Fatal(err)
	}
	ms = f.mails(mail.KindEmailChangeNotice, u.Email)
	if len(ms) != 2 {
		t.Fatalf("%d notices, want 2", len(ms))
	}
	if d := dataOf(t, ms[0]); d.NewEmail != "mine@example.org" {
		t.Errorf("the notice to a proven address names %q, want mine@example.org", d.NewEmail)
	}
}
