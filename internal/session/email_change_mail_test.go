package session_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/session"
)

// TestNewerEmailChangeEndsOlderMails: the mail of an older email change
// request is still queued (the SMTP server was down) when a newer request
// comes, whether the newer address is free, taken or out of its mail
// allowance. Once the sender gets to it, no working link goes out to the
// older address, and that mail is failed as superseded; the newest link,
// to a free address, still confirms.
func TestNewerEmailChangeEndsOlderMails(t *testing.T) {
	t.Parallel()
	for _, newer := range []string{"right@example.com", "bob@example.com", "cooled@example.com"} {
		t.Run(newer, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, mailOn)
			ctx := t.Context()
			m := f.mailer()
			u := f.user("ada@example.com")
			f.user("bob@example.com")
			a := f.authOf(f.start(u.ID).Access)
			request := func(email string) {
				t.Helper()
				if err := f.svc.RequestEmailChange(ctx, a, email, testPassword); err != nil {
					t.Fatalf("RequestEmailChange(%s): %v", email, err)
				}
			}
			if newer == "cooled@example.com" { // its allowance is used up: no mail
				request(newer)
				m.send()
			}
			request("mistyped@example.com")
			older := f.mails(mail.KindChangeEmail, "mistyped@example.com")
			if len(older) != 1 {
				t.Fatalf("%d mails to the older address, want 1", len(older))
			}
			f.clock.Advance(time.Second)
			request(newer)
			m.send()

			for _, msg := range m.srv.Messages() {
				if !slices.Contains(msg.To, "mistyped@example.com") {
					continue
				}
				for _, l := range mailedLink.FindAllStringSubmatch(msg.Text, -1) {
					if err := f.svc.ConfirmEmailChange(ctx, l[2]); !errors.Is(err, session.ErrBadEmailChangeToken) {
						t.Errorf("the older request's mailed link after a newer request: %v, want ErrBadEmailChangeToken", err)
					}
				}
			}
			if got := f.userByID(u.ID).Email; got != u.Email {
				t.Fatalf("the account moved to %s", got)
			}
			r, err := f.q.GetMail(ctx, older[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != "failed" || r.SupersededAt == nil {
				t.Errorf("older mail: status %s, superseded at %v; want failed and superseded", r.Status, r.SupersededAt)
			}
			if newer != "right@example.com" {
				return
			}
			var confirmed bool
			for _, msg := range m.srv.Messages() {
				if !slices.Contains(msg.To, newer) {
					continue
				}
				for _, l := range mailedLink.FindAllStringSubmatch(msg.Text, -1) {
					if err := f.svc.ConfirmEmailChange(ctx, l[2]); err != nil {
						t.Errorf("the newest link: %v", err)
					}
					confirmed = true
				}
			}
			if !confirmed {
				t.Error("no link mailed to the newest address")
			}
		})
	}
}
