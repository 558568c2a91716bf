package mail_test

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/mail/smtptest"
)

// messageID is the shape of a Message-ID: 128 random bits in hex.
var messageID = regexp.MustCompile(`^<[0-9a-f]{32}@example\.com>$`)

// TestHeadersRevealNoProbe: an attacker mails themself a reset link, asks
// for one for another address, and mails themself again. Whether that
// address has an account (a row was queued for it) leaves no trace in the
// headers of the attacker's two mails: no header carries an outbox id or
// a queueing time, and the headers differ only in the Date and a random
// Message-ID.
func TestHeadersRevealNoProbe(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	// Ids long enough that none turns up in a random value by chance.
	if _, err := f.pool.Exec(t.Context(), "SELECT setval(pg_get_serial_sequence('mail_outbox', 'id'), 987654320)"); err != nil {
		t.Fatal(err)
	}
	attacker := f.user("Mallory", "mallory@example.com")
	victim := f.user("Vic", "victim@example.com")

	var ids []int64
	scenario := func(known bool) []smtptest.Message {
		before := len(f.srv.Messages())
		ids = append(ids, f.enqueue(mail.KindResetPassword, attacker.Email, attacker.ID, mail.Data{Name: attacker.Name}))
		n := 2
		if known {
			ids = append(ids, f.enqueue(mail.KindResetPassword, victim.Email, victim.ID, mail.Data{Name: victim.Name}))
			n = 3
		}
		f.clock.Advance(time.Second)
		ids = append(ids, f.enqueue(mail.KindResetPassword, attacker.Email, attacker.ID, mail.Data{Name: attacker.Name}))
		f.once(n)
		var own []smtptest.Message
		for _, m := range waitMessages(t, f.srv, before+n)[before:] {
			if slices.Contains(m.To, attacker.Email) {
				own = append(own, m)
			}
		}
		if len(own) != 2 {
			t.Fatalf("%d mails to the attacker, want 2", len(own))
		}
		return own
	}
	known := scenario(true)
	unknown := scenario(false)

	var leaks []string
	for _, id := range ids {
		leaks = append(leaks, strconv.FormatInt(id, 10), strconv.FormatInt(f.row(id).CreatedAt.UnixMicro(), 10))
	}
	seen := map[string]bool{}
	for _, m := range append(known, unknown...) {
		for k, vs := range m.Header {
			for _, v := range vs {
				for _, l := range leaks {
					if strings.Contains(v, l) {
						t.Errorf("header %s: %s carries %s, an outbox id or queueing time", k, v, l)
					}
				}
			}
		}
		id := m.Header.Get("Message-ID")
		if !messageID.MatchString(id) {
			t.Errorf("Message-ID %s, want %s", id, messageID)
		}
		if seen[id] {
			t.Errorf("Message-ID %s twice", id)
		}
		seen[id] = true
	}
	// Apart from the Date and the Message-ID, the four mails have the
	// same headers.
	shape := func(m smtptest.Message) string {
		var b strings.Builder
		keys := make([]string, 0, len(m.Header))
		for k := range m.Header {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			v := strings.Join(m.Header[k], "\n")
			switch k {
			case "Date", "Message-Id":
				v = "-"
			case "Content-Type": // the multipart boundary is random
				v = regexp.MustCompile(`boundary=\S+`).ReplaceAllString(v, "boundary=-")
			}
			b.WriteString(k + ": " + v + "\n")
		}
		return b.String()
	}
	want := shape(known[0])
	for i, m := range append(known[1:], unknown...) {
		if got := shape(m); got != want {
			t.Errorf("mail %d has other headers than the first:\n%s\nwant\n%s", i+2, got, want)
		}
	}
}

// TestMessageIDKeptAcrossAttempts: a mail delivered twice (the connection
// was lost after the server kept it) carries one Message-ID, so the
// recipient's server can tell it is the same mail.
func TestMessageIDKeptAcrossAttempts(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	u := f.user("Ann", "ann@example.com")
	f.enqueue(mail.KindPasswordChanged, u.Email, uuid.Nil, mail.Data{Name: u.Name})
	f.srv.SetFault(smtptest.DropAfterData)
	f.once(1)
	f.srv.SetFault(smtptest.None)
	f.clock.Advance(10 * time.Minute)
	f.once(1)
	msgs := waitMessages(t, f.srv, 2)
	a, b := msgs[0].Header.Get("Message-ID"), msgs[1].Header.Get("Message-ID")
	if a != b || !messageID.MatchString(a) {
		t.Errorf("Message-IDs %s and %s, want one of %s", a, b, messageID)
	}
}
