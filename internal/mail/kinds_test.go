package mail_test

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/mail"
)

// TestTokenContract pins the format the flows rely on.
func TestTokenContract(t *testing.T) {
	raw, hash := mail.NewToken()
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || len(b) != 32 || len(raw) != mail.TokenLen || mail.TokenLen != 43 {
		t.Fatalf("raw token %q: %d bytes, %v", raw, len(b), err)
	}
	if want := sha256.Sum256([]byte(raw)); string(hash) != string(want[:]) || string(mail.HashToken(raw)) != string(want[:]) {
		t.Error("the stored hash is not SHA-256 of the raw token's text")
	}
	if other, _ := mail.NewToken(); other == raw {
		t.Error("two tokens alike")
	}
	for _, s := range []string{raw, strings.Repeat("A", 43), strings.Repeat("_-", 21) + "x"} {
		if !mail.WellFormedToken(s) {
			t.Errorf("WellFormedToken(%q) = false", s)
		}
	}
	for _, s := range []string{"", raw[:42], raw + "A", strings.Repeat("A", 42) + "=", strings.Repeat("A", 42) + "+", strings.Repeat("A", 42) + "/"} {
		if mail.WellFormedToken(s) {
			t.Errorf("WellFormedToken(%q) = true", s)
		}
	}
}

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
	_, err := mail.NewSender(nil, mail.NewLog(nil), mail.SenderOptions{From: "a@example.com", LinkBase: linkBase, TemplatesDir: dir})
	if err == nil || !strings.Contains(err.Error(), "verify_email.txt") {
		t.Errorf("NewSender: %v, want a template error", err)
	}
	for _, o := range []mail.SenderOptions{
		{From: "nodomain", LinkBase: linkBase},
		{From: "a@example.com"},
		{From: "a@example.com", LinkBase: linkBase, ResetPath: "/reset"},
	} {
		if _, err := mail.NewSender(nil, mail.NewLog(nil), o); err == nil {
			t.Errorf("NewSender(%+v) accepted", o)
		}
	}
}
