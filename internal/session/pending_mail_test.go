package session_test

import (
	"errors"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/mail/smtptest"
	"github.com/authd/authd/internal/session"
	"github.com/authd/authd/internal/session/sessiontest"
)

// mailer is a mail sender on f's database and clock, delivering to an
// SMTP server on loopback.
type mailer struct {
	f      *fixture
	srv    *smtptest.Server
	sender *mail.Sender
}

func (f *fixture) mailer() *mailer {
	f.t.Helper()
	srv := smtptest.New(f.t, smtptest.Options{})
	tr, err := mail.NewSMTP(mail.SMTPOptions{Host: srv.Host(), Port: srv.Port(), TLS: mail.TLSNone, Timeout: 5 * time.Second})
	if err != nil {
		f.t.Fatal(err)
	}
	o := sessiontest.SenderOptions(f.clock.Now)
	s, err := mail.NewSender(f.pool, tr, o)
	if err != nil {
		f.t.Fatal(err)
	}
	return &mailer{f: f, srv: srv, sender: s}
}

// send sends every due mail.
func (m *mailer) send() {
	m.f.t.Helper()
	if _, err := m.sender.Once(m.f.t.Context()); err != nil {
		m.f.t.Fatalf("send: %v", err)
	}
}

var mailedLink = regexp.MustCompile(`https://app\.example\.com/(forgotPassword|confirm-email|verifyemail)/([A-Za-z0-9_-]{43})`)

// noWorkingLink checks that no mail the server got carries a link that
// still works, and that user has no reset or email-change secret left.
func (m *mailer) noWorkingLink(user db.User) {
	m.f.t.Helper()
	ctx := m.f.t.Context()
	for _, msg := range m.srv.Messages() {
		for _, l := range mailedLink.FindAllStringSubmatch(msg.Text, -1) {
			var err error
			switch l[1] {
			case "forgotPassword":
				err = m.f.svc.ResetPassword(ctx, l[2], "a thief's password", "a thief's password")
			case "confirm-email":
				err = m.f.svc.ConfirmEmailChange(ctx, l[2])
			default:
				continue
			}
			if err == nil || !(errors.Is(err, session.ErrBadResetToken) || errors.Is(err, session.ErrBadEmailChangeToken)) {
				m.f.t.Errorf("a %s link mailed to %v after the change still works: %v", l[1], msg.To, err)
			}
		}
	}
	var n int
	if err := m.f.pool.QueryRow(ctx, "SELECT count(*) FROM one_time_tokens WHERE user_id = $1 AND purpose IN ('reset_password', 'change_email')", user.ID).Scan(&n); err != nil {
		m.f.t.Fatal(err)
	}
	if n != 0 {
		m.f.t.Errorf("%d reset or email-change secrets of the user after the change", n)
	}
}

// TestPendingLinkMailsEndWithTheChange: a reset mail and an email-change
// mail to a thief's address are still queued (the SMTP server was down)
// when the owner changes the password, resets it, has the operator set
// it, or confirms another address. Once the sender gets to them, no
// working link goes out, and the mails are failed as superseded.
func TestPendingLinkMailsEndWithTheChange(t *testing.T) {
	t.Parallel()
	for _, change := range []string{"password change", "reset", "operator set-password", "confirm another address"} {
		t.Run(change, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, mailOn)
			ctx := t.Context()
			m := f.mailer()
			u := f.user("ada@example.com")
			a := f.authOf(f.start(u.ID).Access)
			// The thief, with the stolen password, asks to move the account.
			if err := f.svc.RequestEmailChange(ctx, a, "thief@example.net", testPassword); err != nil {
				t.Fatal(err)
			}
			if err := f.svc.ForgotPassword(ctx, u.Email); err != nil {
				t.Fatal(err)
			}
			queued := f.mails(mail.KindChangeEmail, "")
			queued = append(queued, f.mails(mail.KindResetPassword, "")...)
			f.clock.Advance(time.Minute)

			switch change {
			case "password change":
				if err := f.svc.ChangePassword(ctx, a, testPassword, "a new password", "a new password"); err != nil {
					t.Fatal(err)
				}
			case "reset":
				raw := f.mintToken("reset_password", u.ID, u.Email, 15*time.Minute) // an earlier link
				if err := f.svc.ResetPassword(ctx, raw, "a new password", "a new password"); err != nil {
					t.Fatal(err)
				}
			case "operator set-password":
				if _, _, err := f.svc.Admin().SetPassword(ctx, u.Email, "a new password"); err != nil {
					t.Fatal(err)
				}
			case "confirm another address":
				raw := f.mintToken("change_email", u.ID, "ada@example.org", time.Hour)
				if err := f.svc.ConfirmEmailChange(ctx, raw); err != nil {
					t.Fatal(err)
				}
			}
			m.send()
			m.noWorkingLink(u)
			for _, q := range queued {
				r, err := f.q.GetMail(ctx, q.ID)
				if err != nil {
					t.Fatal(err)
				}
				if r.Status != "failed" || r.SupersededAt == nil {
					t.Errorf("%s mail: status %s, superseded at %v; want failed and superseded", r.Kind, r.Status, r.SupersededAt)
				}
			}
		})
	}
}

// TestSupersedeRacesSender: the operator sets the password while a sender
// is at work on a pending email-change mail, 30 times. Whichever comes
// first, no secret minted for the mail outlives the change: the sender
// mints only while it holds the mail's lease, in one statement that
// waits for the change or that the change waits for.
func TestSupersedeRacesSender(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn)
	ctx := t.Context()
	m := f.mailer()
	u := f.user("ada@example.com")
	a := f.authOf(f.start(u.ID).Access)
	for i := range 30 {
		if err := f.svc.RequestEmailChange(ctx, a, fmt.Sprintf("thief%d@example.net", i), testPassword); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			if _, err := m.sender.Once(ctx); err != nil {
				t.Errorf("send: %v", err)
			}
		})
		wg.Go(func() {
			if _, _, err := f.svc.Admin().SetPassword(ctx, u.Email, fmt.Sprintf("new password %d", i)); err != nil {
				t.Errorf("set password: %v", err)
			}
		})
		wg.Wait()
		m.noWorkingLink(u)
		// The operator's change ended the session: start a new one for
		// the next round, and give the owner the test password back.
		if _, _, err := f.svc.Admin().SetPassword(ctx, u.Email, testPassword); err != nil {
			t.Fatal(err)
		}
		m.send()
		a = f.authOf(f.start(u.ID).Access)
	}
}
