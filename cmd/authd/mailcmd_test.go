package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/mail/smtptest"
	"github.com/authd/authd/internal/session"
)

// smtpOn points the configuration at srv, in plain text (loopback).
func smtpOn(srv *smtptest.Server) func(map[string]string) {
	return func(env map[string]string) {
		env["MAIL_TRANSPORT"] = "smtp"
		env["SMTP_HOST"] = srv.Host()
		env["SMTP_PORT"] = strconv.Itoa(srv.Port())
		env["SMTP_TLS"] = "none"
		env["SMTP_TIMEOUT"] = "5s"
		env["EMAIL_FROM"] = "authd@example.com"
	}
}

// TestMailListRetry: the outbox as a table and as JSON, without the
// mails' data; a failed mail is queued again once; the retries refused.
func TestMailListRetry(t *testing.T) {
	t.Parallel()
	c := newCLI(t, smtpOn(smtptest.New(t, smtptest.Options{})))
	ctx := t.Context()
	u, err := c.svc.Admin().Create(ctx, session.NewUser{Email: "ada@example.com", Password: "ada's password"})
	if err != nil {
		t.Fatal(err)
	}
	q := db.New(c.pool)
	now := time.Now()
	queue := func(kind string, at time.Time) int64 {
		t.Helper()
		id, err := mail.Enqueue(ctx, q, mail.Mail{Kind: kind, To: u.Email, UserID: uuid.NullUUID{UUID: u.ID, Valid: true},
			Data: mail.Data{Name: "Secret Name"}}, at)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	notice := queue(mail.KindPasswordChanged, now)
	pending := queue(mail.KindResetPassword, now)
	stale := queue(mail.KindResetPassword, now.Add(-2*time.Hour))
	if _, err := c.pool.Exec(ctx, `UPDATE mail_outbox SET status = 'failed', attempts = 8,
		last_error = '550 5.1.1 mailbox unknown' WHERE id = ANY($1)`, []int64{notice, stale}); err != nil {
		t.Fatal(err)
	}
	id := func(n int64) string { return strconv.FormatInt(n, 10) }

	r := c.ok("", "mail", "list")
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID") || !strings.HasPrefix(lines[1], id(stale)+" ") ||
		!strings.Contains(lines[1], "failed") || !strings.Contains(lines[1], "550 5.1.1 mailbox unknown") ||
		!strings.Contains(lines[2], "pending") || !strings.Contains(lines[3], "password_changed") {
		t.Errorf("mail list:\n%s", r.out)
	}
	if strings.Contains(r.out, "Secret Name") {
		t.Errorf("mail list shows a mail's data:\n%s", r.out)
	}
	r = c.ok("", "mail", "list", "-status", "failed", "-json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.out), &rows); err != nil || len(rows) != 2 || rows[0]["to"] != "ada@example.com" || rows[0]["attempts"] != 8.0 {
		t.Errorf("mail list -status failed -json: %v\n%s", err, r.out)
	}
	if strings.Contains(r.out, "Secret Name") || strings.Contains(r.out, `"data"`) {
		t.Errorf("mail list -json shows a mail's data:\n%s", r.out)
	}
	c.refused("-status must be", "", "mail", "list", "-status", "lost")

	if r = c.ok("", "mail", "retry", id(notice)); !strings.Contains(r.out, "queued again") || r.audit["target"] != id(notice) {
		t.Errorf("mail retry: %q, audit %v", r.out, r.audit)
	}
	m, err := q.GetMail(ctx, notice)
	if err != nil || m.Status != "pending" || m.Attempts != 0 || m.LastError != nil || m.NextAttemptAt.After(time.Now()) {
		t.Errorf("after retry: %+v, %v", m, err)
	}
	c.refused("is pending; only a failed mail", "", "mail", "retry", id(notice))
	c.refused("is pending", "", "mail", "retry", id(pending))
	c.refused("RESET_TOKEN_TTL", "", "mail", "retry", id(stale))
	c.refused("no mail 999999", "", "mail", "retry", "999999")
	c.refused("not a mail id", "", "mail", "retry", "x1")
}

// TestMailTest: a test mail goes through SMTP at once, not through the
// outbox; a refusal by the server is a failure that says so; with mail
// off there is nothing to test.
func TestMailTest(t *testing.T) {
	t.Parallel()
	srv := smtptest.New(t, smtptest.Options{})
	c := newCLI(t, smtpOn(srv))

	r := c.ok("", "mail", "test", "Ops@Example.com")
	if !strings.HasPrefix(r.out, "sent: "+srv.Addr()+" (SMTP_TLS=none) accepted the mail") || r.audit["result"] != "accepted" {
		t.Errorf("mail test: %q, audit %v", r.out, r.audit)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || msgs[0].To[0] != "ops@example.com" || msgs[0].From != "authd@example.com" ||
		msgs[0].Subject != "Test mail from authd" || !strings.Contains(msgs[0].Text, "This is a test mail from authd") {
		t.Fatalf("the server got %+v", msgs)
	}
	var n int
	if err := c.pool.QueryRow(t.Context(), "SELECT count(*) FROM mail_outbox").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d outbox rows (%v), want none", n, err)
	}

	srv.SetFault(smtptest.RejectRcpt)
	r = c.run("", "mail", "test", "ops@example.com")
	if r.fail == nil || !strings.Contains(r.fail.Error(), "rejected by") || r.audit["outcome"] != "failed" ||
		r.audit["level"] != "ERROR" || r.audit["result"] != "rejected" {
		t.Errorf("rejected: %v, audit %v", r.fail, r.audit)
	}
	c.refused("not a valid address", "", "mail", "test", "ops")

	off := newCLI(t)
	off.refused("mail is off", "", "mail", "test", "ops@example.com")
}
