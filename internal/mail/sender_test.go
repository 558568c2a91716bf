package mail_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/mail/smtptest"
	"github.com/authd/authd/internal/onetime"
	"github.com/authd/authd/internal/session/sessiontest"
)

// TestDeliveredWithWorkingLink: a queued verification mail goes out over
// STARTTLS with AUTH; its link's token is in one_time_tokens as a hash,
// bound to the user and address, and the raw token is nowhere in the
// database or the logs.
func TestDeliveredWithWorkingLink(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	u := f.user("Ada Lovelace", "ada@example.com")
	id := f.enqueue(mail.KindVerifyEmail, u.Email, u.ID, mail.Data{Name: u.Name})
	f.once(1)

	msgs := f.srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	m := msgs[0]
	for _, tt := range []struct{ what, got, want string }{
		{"envelope to", strings.Join(m.To, ","), "ada@example.com"},
		{"envelope from", m.From, "authd@example.com"},
		{"From", m.Header.Get("From"), `"authd" <authd@example.com>`},
		{"To", m.Header.Get("To"), "<ada@example.com>"},
		{"Subject", m.Subject, "Your account verification code"},
		{"Auto-Submitted", m.Header.Get("Auto-Submitted"), "auto-generated"},
		{"auth user", m.AuthUser, "authd"},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.what, tt.got, tt.want)
		}
	}
	if !m.TLS {
		t.Error("sent without TLS")
	}
	if got, want := m.Header.Get("Message-ID"), "<"+f.row(id).MessageID+"@example.com>"; got != want {
		t.Errorf("Message-ID %q, want %q (the row's random id)", got, want)
	}
	// A verification mail goes to an unproven address: no name (issue 19 item 8).
	if !strings.Contains(m.Text, "Hello,") || !strings.Contains(m.HTML, "Hello,") || strings.Contains(m.Text, "Ada") {
		t.Errorf("not greeted without the name:\n%s", m.Text)
	}
	link, raw := token(t, m)
	if want := sessiontest.LinkBase + "/verifyemail/" + raw; link != want {
		t.Errorf("link %s, want %s", link, want)
	}
	if !wellFormed.MatchString(raw) {
		t.Errorf("token %q is not well formed", raw)
	}

	got, err := f.q.ConsumeOneTimeToken(t.Context(), db.ConsumeOneTimeTokenParams{TokenHash: onetime.Hash(raw), Purpose: mail.KindVerifyEmail, Now: f.clock.Now().Add(24*time.Hour - time.Second)})
	if err != nil {
		t.Fatalf("the link's token is not in one_time_tokens (valid for 24h): %v", err)
	}
	if got.UserID != u.ID || got.Email != u.Email {
		t.Errorf("token bound to %v %s, want %v %s", got.UserID, got.Email, u.ID, u.Email)
	}
	// Put it back (consumed above) to search the database with it present.
	f.enqueue(mail.KindResetPassword, u.Email, u.ID, mail.Data{Name: u.Name})
	f.once(1)
	_, raw2 := token(t, f.srv.Messages()[1])
	if s := f.srv.Messages()[1].Subject; s != "Your password reset token (valid for 15 min)" {
		t.Errorf("reset subject %q", s)
	}

	dump := f.dump()
	for _, secret := range []string{raw, raw2} {
		if strings.Contains(dump, secret) {
			t.Errorf("the raw token %s is in the database", secret)
		}
		if strings.Contains(f.logs.String(), secret) {
			t.Errorf("the raw token %s is in the log", secret)
		}
	}
	if !strings.Contains(dump, `\\x`+hexOf(onetime.Hash(raw2))) {
		t.Error("the dump does not show the token hash: the search looks in the wrong place")
	}
	r := f.row(id)
	if r.Status != "sent" || string(r.Data) != "{}" || r.LastError != nil || r.SentAt == nil || r.LockedUntil != nil {
		t.Errorf("row after delivery: %+v (data %s)", r, r.Data)
	}
	var metricsOut bytes.Buffer
	f.m.Write(&metricsOut)
	if !strings.Contains(metricsOut.String(), `authd_mail_total{kind="verify_email",outcome="sent"} 1`) {
		t.Errorf("metrics lack the sent mail:\n%s", grep(metricsOut.String(), "authd_mail"))
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestSMTPDownThenBack: with the server gone (connection refused), then
// answering 421, the mail stays pending with a growing backoff, keeps no
// token it never mailed, and goes out once the server is back.
func TestSMTPDownThenBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	addr := f.srv.Addr()
	f.srv.Close()
	u := f.user("Grace Hopper", "grace@example.com")
	id := f.enqueue(mail.KindResetPassword, u.Email, u.ID, mail.Data{Name: u.Name})

	f.once(1)
	r := f.row(id)
	if r.Status != "pending" || r.Attempts != 1 || !r.NextAttemptAt.Equal(f.clock.Now().Add(10*time.Second)) || r.LastError == nil {
		t.Fatalf("after connection refused: %+v", r)
	}
	if n := f.tokens(u.ID); n != 0 {
		t.Errorf("%d tokens kept for a mail never sent", n)
	}
	f.clock.Advance(9 * time.Second)
	f.once(0) // not due yet

	srv := smtptest.New(t, smtptest.Options{Addr: addr, STARTTLS: true, Username: "authd", Password: "smtp-secret"})
	srv.SetFault(smtptest.RejectConnect)
	f.smtp.RootCAs = srv.RootCAs()
	f.sender = f.newSender()
	f.clock.Advance(time.Second)
	f.once(1)
	r = f.row(id)
	if r.Status != "pending" || r.Attempts != 2 || !r.NextAttemptAt.Equal(f.clock.Now().Add(20*time.Second)) || !strings.Contains(*r.LastError, "421") {
		t.Fatalf("after 421 at connect: %+v %q", r, *r.LastError)
	}
	if srv.Connections() != 1 || len(srv.Messages()) != 0 {
		t.Fatalf("connections %d, messages %d", srv.Connections(), len(srv.Messages()))
	}

	srv.SetFault(smtptest.None)
	f.clock.Advance(20 * time.Second)
	f.once(1)
	if r = f.row(id); r.Status != "sent" || r.Attempts != 3 {
		t.Fatalf("after the server came back: %+v", r)
	}
	if got := len(srv.Messages()); got != 1 {
		t.Fatalf("%d messages, want 1", got)
	}
	if n := f.tokens(u.ID); n != 1 {
		t.Errorf("%d tokens, want the one mailed", n)
	}
}

// TestTemporaryFailureRetried: 451 after DATA puts the mail back; it goes
// out on the next attempt.
func TestTemporaryFailureRetried(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	u := f.user("Ada", "ada@example.com")
	id := f.enqueue(mail.KindChangeEmail, "new@example.com", u.ID, mail.Data{Name: u.Name})
	f.srv.SetFault(smtptest.TempFailData)
	f.once(1)
	r := f.row(id)
	if r.Status != "pending" || r.LastError == nil || !strings.Contains(*r.LastError, "451") {
		t.Fatalf("after 451: %+v", r)
	}
	if n := f.tokens(u.ID); n != 0 {
		t.Errorf("%d tokens kept for a refused mail", n)
	}
	f.srv.SetFault(smtptest.None)
	f.clock.Advance(10 * time.Second)
	f.once(1)
	if r = f.row(id); r.Status != "sent" {
		t.Fatalf("after the retry: %+v", r)
	}
	m := waitMessages(t, f.srv, 1)[0]
	link, _ := token(t, m)
	if !strings.HasPrefix(link, sessiontest.LinkBase+"/confirm-email/") || m.To[0] != "new@example.com" {
		t.Errorf("link %s to %v", link, m.To)
	}
	var email string
	if err := f.pool.QueryRow(t.Context(), "SELECT email FROM one_time_tokens WHERE user_id = $1", u.ID).Scan(&email); err != nil || email != "new@example.com" {
		t.Errorf("change token bound to %q (%v), want the new address", email, err)
	}
}

// TestPermanentFailure: 550 fails the mail at once, drops its data and
// keeps no token.
func TestPermanentFailure(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	u := f.user("Ada", "ada@example.com")
	id := f.enqueue(mail.KindVerifyEmail, u.Email, u.ID, mail.Data{Name: u.Name})
	f.srv.SetFault(smtptest.RejectRcpt)
	f.once(1)
	r := f.row(id)
	if r.Status != "failed" || r.Attempts != 1 || string(r.Data) != "{}" || r.LastError == nil || !strings.Contains(*r.LastError, "550") {
		t.Fatalf("after 550: %+v", r)
	}
	if n := f.tokens(u.ID); n != 0 {
		t.Errorf("%d tokens kept for a rejected mail", n)
	}
	if strings.Contains(f.logs.String(), u.Email) || !strings.Contains(f.logs.String(), "550") {
		t.Errorf("the log names the address, or not the reply:\n%s", f.logs.String())
	}
	f.clock.Advance(time.Hour)
	f.once(0)
}

// TestMaxAttempts: transient failures end in failed after MAIL_MAX_ATTEMPTS.
func TestMaxAttempts(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *mail.SenderOptions, _ *mail.SMTPOptions) { o.MaxAttempts = 2 })
	id := f.enqueue(mail.KindAccountDeleted, "ops@example.com", uuid.Nil, mail.Data{})
	f.srv.SetFault(smtptest.TempFailData)
	f.once(1)
	if r := f.row(id); r.Status != "pending" {
		t.Fatalf("after attempt 1: %+v", r)
	}
	f.clock.Advance(10 * time.Second)
	f.once(1)
	if r := f.row(id); r.Status != "failed" || !strings.Contains(*r.LastError, "gave up after 2 attempts") {
		t.Fatalf("after attempt 2: %+v %q", r, *r.LastError)
	}
}

// TestTokenMailTooLate: a reset mail still queued after the reset TTL is
// failed, not sent.
func TestTokenMailTooLate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	u := f.user("Ada", "ada@example.com")
	id := f.enqueue(mail.KindResetPassword, u.Email, u.ID, mail.Data{})
	f.clock.Advance(15*time.Minute + time.Second)
	f.once(1)
	if r := f.row(id); r.Status != "failed" || !strings.Contains(*r.LastError, "token lifetime") {
		t.Fatalf("late reset mail: %+v", r)
	}
	if len(f.srv.Messages()) != 0 || f.tokens(u.ID) != 0 {
		t.Error("a late reset mail was sent or minted")
	}
}

// TestAbandonedClaim: a sender that claimed a mail and died (never sent,
// never recorded) holds it until its lease ends; then another sender
// delivers it.
func TestAbandonedClaim(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	u := f.user("Ada", "ada@example.com")
	id := f.enqueue(mail.KindVerifyEmail, u.Email, u.ID, mail.Data{})
	now := f.clock.Now()
	dead, err := f.q.ClaimMail(t.Context(), db.ClaimMailParams{Now: now, LeaseUntil: now.Add(time.Minute), BatchSize: 10})
	if err != nil || len(dead) != 1 {
		t.Fatalf("claim: %v %v", dead, err)
	}
	f.once(0)
	f.clock.Advance(time.Minute + time.Second)
	f.once(1)
	if r := f.row(id); r.Status != "sent" || r.Attempts != 2 {
		t.Fatalf("after the lease: %+v", r)
	}
	if len(f.srv.Messages()) != 1 {
		t.Fatalf("%d messages", len(f.srv.Messages()))
	}
}

// TestDroppedAfterData: the server takes the message and hangs up before
// answering. The sender cannot know, so it retries: the mail arrives twice
// (at least once), each with its own token, and both tokens work.
func TestDroppedAfterData(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	u := f.user("Ada", "ada@example.com")
	id := f.enqueue(mail.KindResetPassword, u.Email, u.ID, mail.Data{})
	f.srv.SetFault(smtptest.DropAfterData)
	f.once(1)
	if r := f.row(id); r.Status != "pending" {
		t.Fatalf("after the drop: %+v", r)
	}
	f.srv.SetFault(smtptest.None)
	f.clock.Advance(10 * time.Second)
	f.once(1)
	msgs := f.srv.Messages()
	if len(msgs) != 2 || f.row(id).Status != "sent" {
		t.Fatalf("%d messages, row %+v", len(msgs), f.row(id))
	}
	for i, m := range msgs {
		_, raw := token(t, m)
		if _, err := f.q.ConsumeOneTimeToken(t.Context(), db.ConsumeOneTimeTokenParams{TokenHash: onetime.Hash(raw), Purpose: mail.KindResetPassword, Now: f.clock.Now()}); err != nil {
			t.Errorf("token of delivery %d: %v", i+1, err)
		}
	}
}

// TestTwoSendersExactlyOnce: two senders with pools of their own on one
// database share 200 mails: every mail is delivered exactly once.
func TestTwoSendersExactlyOnce(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	srv := smtptest.New(t, smtptest.Options{})
	var senders []*mail.Sender
	var firstPool db.Pool
	for range 2 {
		pool, err := db.Connect(t.Context(), url, db.PoolOptions{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		if firstPool == nil {
			firstPool = pool
		}
		tr, err := mail.NewSMTP(mail.SMTPOptions{Host: srv.Host(), Port: srv.Port(), TLS: mail.TLSNone, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		s, err := mail.NewSender(pool, tr, sessiontest.SenderOptions(nil))
		if err != nil {
			t.Fatal(err)
		}
		senders = append(senders, s)
	}
	const total = 200
	err := db.InTx(t.Context(), firstPool, 10*time.Second, func(q *db.Queries) error {
		for i := range total {
			if _, err := mail.Enqueue(t.Context(), q, mail.Mail{Kind: mail.KindAccountDeleted, To: fmt.Sprintf("u%d@example.com", i)}, time.Now()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	handled := make([]int, len(senders))
	for i, s := range senders {
		wg.Go(func() {
			n, err := s.Once(t.Context())
			if err != nil {
				t.Error(err)
			}
			handled[i] = n
		})
	}
	wg.Wait()
	t.Logf("handled: %v", handled)
	if handled[0]+handled[1] != total {
		t.Errorf("handled %v, want %d in all", handled, total)
	}
	seen := map[string]int{}
	for _, m := range srv.Messages() {
		seen[m.To[0]]++
	}
	for i := range total {
		if to := fmt.Sprintf("u%d@example.com", i); seen[to] != 1 {
			t.Errorf("%s received %d times", to, seen[to])
		}
	}
	if len(srv.Messages()) != total {
		t.Errorf("%d messages, want %d", len(srv.Messages()), total)
	}
}

// TestRunWakesOnNotify: with LISTEN and an hour's poll interval, each
// queued mail goes out soon after its transaction commits.
func TestRunWakesOnNotify(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *mail.SenderOptions, _ *mail.SMTPOptions) {
		o.Listen = true
		o.PollInterval = time.Hour
		o.Now = nil
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { f.sender.Run(ctx); close(done) }()
	for i := range 3 {
		err := db.InTx(t.Context(), f.pool, 5*time.Second, func(q *db.Queries) error {
			_, err := mail.Enqueue(t.Context(), q, mail.Mail{Kind: mail.KindAccountDeleted, To: fmt.Sprintf("n%d@example.com", i)}, time.Now())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		waitMessages(t, f.srv, i+1)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// TestRunPollsAlone: without LISTEN (as behind PgBouncer in transaction
// mode), polling alone delivers.
func TestRunPollsAlone(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *mail.SenderOptions, _ *mail.SMTPOptions) {
		o.PollInterval = 50 * time.Millisecond
		o.Now = nil
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { f.sender.Run(ctx); close(done) }()
	if _, err := f.q.EnqueueMail(t.Context(), db.EnqueueMailParams{Kind: mail.KindAccountDeleted, ToAddr: "p@example.com", Data: `{}`, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	waitMessages(t, f.srv, 1)
	cancel()
	<-done
}

// TestEveryKindDelivered: each kind renders and goes out with its subject.
func TestEveryKindDelivered(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	u := f.user("Ada Lovelace", "ada@example.com")
	want := map[string]string{
		mail.KindVerifyEmail:       "Your account verification code",
		mail.KindResetPassword:     "Your password reset token (valid for 15 min)",
		mail.KindChangeEmail:       "Confirm your new email address",
		mail.KindPasswordChanged:   "Your password was changed",
		mail.KindEmailChangeNotice: "A change of your email address was requested",
		mail.KindEmailTakenNotice:  "Someone tried to use your email address",
		mail.KindSignupAttempt:     "Someone tried to register with your email address",
		mail.KindAccountDeleted:    "Your account was deleted",
		mail.KindMFAEnabled:        "Two-factor authentication is on",
		mail.KindMFADisabled:       "Two-factor authentication is off",
		mail.KindRecoveryCodeUsed:  "A recovery code was used to sign in",
		mail.KindRecoveryCodesLow:  "You are running out of recovery codes",
		mail.KindNewDevice:         "New sign-in to your account",
		mail.KindPasskeyAdded:      "A passkey was added to your account",
		mail.KindPasskeyRemoved:    "A passkey was removed from your account",
	}
	for _, k := range mail.Kinds() {
		f.enqueue(k, k+"@example.com", u.ID, mail.Data{Name: u.Name, NewEmail: "ada.new@example.com",
			Device: "Firefox on Linux", Addr: "192.0.2.1", At: "2 Jan 2026 15:04 UTC"})
	}
	f.once(len(mail.Kinds()))
	for _, m := range f.srv.Messages() {
		kind := strings.TrimSuffix(m.To[0], "@example.com")
		if m.Subject != want[kind] {
			t.Errorf("%s: subject %q, want %q", kind, m.Subject, want[kind])
		}
		greeting := "Hi Ada," // the link mails go to unproven addresses: no name (issue 19 item 8)
		if kind == mail.KindVerifyEmail || kind == mail.KindChangeEmail {
			greeting = "Hello,"
		}
		if !strings.HasPrefix(m.Text, greeting) {
			t.Errorf("%s: text starts %q, want %q", kind, m.Text[:min(20, len(m.Text))], greeting)
		}
		if mail.IsTokenKind(kind) {
			token(t, m)
		} else if kind == mail.KindNewDevice {
			if !strings.Contains(m.Text, sessiontest.LinkBase+"/forgotPassword\n") || !strings.Contains(m.Text, "Firefox on Linux") {
				t.Errorf("new_device: no forgot-password link or device:\n%s", m.Text)
			}
		} else if strings.Contains(m.Text, "https://") {
			t.Errorf("%s: a notice with a link:\n%s", kind, m.Text)
		}
		if kind == mail.KindEmailChangeNotice && !strings.Contains(m.Text, "ada.new@example.com") {
			t.Errorf("email_change_notice does not name the new address:\n%s", m.Text)
		}
	}
}

// TestPurge: sent mails go after the retention, failed ones after 30
// days; tokens are session.Service.Purge's business and stay.
func TestPurge(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	u := f.user("Ada", "ada@example.com")
	now := f.clock.Now()
	ins := func(status string, age time.Duration) {
		_, err := f.pool.Exec(t.Context(), "INSERT INTO mail_outbox (kind, to_addr, status, next_attempt_at, created_at) VALUES ('test', $1, $2, $3, $3)",
			fmt.Sprintf("%s-%s@example.com", status, age), status, now.Add(-age))
		if err != nil {
			t.Fatal(err)
		}
	}
	ins("sent", 169*time.Hour)
	ins("sent", 167*time.Hour)
	ins("failed", 169*time.Hour)
	ins("failed", 31*24*time.Hour)
	ins("pending", 40*24*time.Hour)
	for _, exp := range []time.Duration{-time.Second, time.Hour} {
		h := onetime.Hash(uuid.NewString())
		if err := f.q.CreateOneTimeToken(t.Context(), db.CreateOneTimeTokenParams{TokenHash: h, Purpose: mail.KindVerifyEmail, UserID: u.ID, Email: u.Email, Now: now.Add(-time.Hour), ExpiresAt: now.Add(exp)}); err != nil {
			t.Fatal(err)
		}
	}
	f.sender.Purge(t.Context())
	var left []string
	rows, _ := f.pool.Query(t.Context(), "SELECT to_addr FROM mail_outbox ORDER BY id")
	for rows.Next() {
		var s string
		rows.Scan(&s)
		left = append(left, s)
	}
	rows.Close()
	if got, want := strings.Join(left, " "), "sent-167h0m0s@example.com failed-169h0m0s@example.com pending-960h0m0s@example.com"; got != want {
		t.Errorf("left after purge: %s\nwant %s", got, want)
	}
	if n := f.tokens(u.ID); n != 2 {
		t.Errorf("%d tokens left, want both (session's purge deletes them)", n)
	}
}
