package mail_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/onetime"
	"github.com/authd/authd/internal/session/sessiontest"
)

func TestDataJSON(t *testing.T) {
	for _, tt := range []struct {
		d    mail.Data
		want string
	}{
		{mail.Data{}, `{}`},
		{mail.Data{Name: "Ada Lovelace"}, `{"name":"Ada Lovelace"}`},
		{mail.Data{Name: "A", NewEmail: "a@example.org"}, `{"name":"A","new_email":"a@example.org"}`},
	} {
		if got := string(tt.d.JSON()); got != tt.want {
			t.Errorf("%+v.JSON() = %s, want %s", tt.d, got, tt.want)
		}
	}
}

// TestEnqueueChecks: unknown kinds and token mails without a user are
// refused before anything is written.
func TestEnqueueChecks(t *testing.T) {
	t.Parallel()
	q := db.New(dbtest.New(t))
	if _, err := mail.Enqueue(t.Context(), q, mail.Mail{Kind: "verify", To: "a@example.com"}, t0); err == nil {
		t.Error("unknown kind queued")
	}
	if _, err := mail.Enqueue(t.Context(), q, mail.Mail{Kind: mail.KindResetPassword, To: "a@example.com", UserID: uuid.NullUUID{}}, t0); err == nil {
		t.Error("token mail without a user queued")
	}
	rows, err := q.ListMail(t.Context(), db.ListMailParams{MaxRows: 10})
	if err != nil || len(rows) != 0 {
		t.Errorf("outbox: %v %v", rows, err)
	}
}

// TestNewSenderRefusesBrokenTemplates: a broken MAIL_TEMPLATES_DIR fails
// the sender's construction, that is start-up.
func TestNewSenderRefusesBrokenTemplates(t *testing.T) {
	dir := t.TempDir()
	if err := writeFile(dir, "verify_email.txt", "{{.URL"); err != nil {
		t.Fatal(err)
	}
	o := sessiontest.SenderOptions(nil)
	o.TemplatesDir = dir
	_, err := mail.NewSender(nil, mail.NewLog(nil), o)
	if err == nil || !strings.Contains(err.Error(), "verify_email.txt") {
		t.Errorf("NewSender: %v, want a template error", err)
	}
	if _, err := mail.NewSender(nil, mail.NewLog(nil), sessiontest.SenderOptions(nil)); err != nil {
		t.Errorf("NewSender with full options: %v", err)
	}
	for name, change := range map[string]func(*mail.SenderOptions){
		"from without a domain": func(o *mail.SenderOptions) { o.From = "nodomain" },
		"no link base":          func(o *mail.SenderOptions) { o.LinkBase = "" },
		"path without {token}":  func(o *mail.SenderOptions) { o.ResetPath = "/reset" },
		"no from name":          func(o *mail.SenderOptions) { o.FromName = "" },
		"no token store":        func(o *mail.SenderOptions) { o.Tokens = nil },
		"no token lifetime":     func(o *mail.SenderOptions) { o.Tokens = onetime.New(onetime.Options{}) },
		"no poll interval":      func(o *mail.SenderOptions) { o.PollInterval = 0 },
		"no attempts":           func(o *mail.SenderOptions) { o.MaxAttempts = 0 },
	} {
		o := sessiontest.SenderOptions(nil)
		change(&o)
		if _, err := mail.NewSender(nil, mail.NewLog(nil), o); err == nil {
			t.Errorf("NewSender with %s accepted", name)
		}
	}
}
