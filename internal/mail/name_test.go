package mail_test

import (
	"strings"
	"testing"

	"github.com/authd/authd/internal/mail"
)

// TestLinkMailsToNewAddressesGreetNoName: a verification mail and an
// email-change link go to an address that no one has proven yet, so they
// show no name, whatever the row's data holds (a row queued by an older
// release, say).
func TestLinkMailsToNewAddressesGreetNoName(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	u := f.user("Mallory", "mallory@example.com")
	const lure = "WIN-A-PRIZE-AT-evil.example.net"
	f.enqueue(mail.KindVerifyEmail, u.Email, u.ID, mail.Data{Name: lure})
	f.enqueue(mail.KindChangeEmail, "victim@example.org", u.ID, mail.Data{Name: lure, NewEmail: "victim@example.org"})
	f.once(2)
	for _, m := range waitMessages(t, f.srv, 2) {
		if strings.Contains(m.Text, lure) || strings.Contains(m.HTML, lure) {
			t.Errorf("mail to %v shows the name:\n%s", m.To, m.Text)
		}
		if !strings.Contains(m.Text, "Hello,") {
			t.Errorf("mail to %v does not greet plainly:\n%s", m.To, m.Text)
		}
	}
}
