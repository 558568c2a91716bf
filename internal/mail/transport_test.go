package mail_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/mail/smtptest"
)

var testMessage = mail.Message{MessageID: "1.2@example.com", From: "authd@example.com", FromName: "authd", To: "ada@example.com",
	Subject: "Test", Text: "hello https://app.example.com/x\n", HTML: "<p>hello</p>"}

func send(t *testing.T, o mail.SMTPOptions) error {
	t.Helper()
	tr, err := mail.NewSMTP(o)
	if err != nil {
		t.Fatal(err)
	}
	return tr.Send(t.Context(), testMessage)
}

// TestTLSPolicy: plain text only to loopback; STARTTLS never falls back
// to plain text; certificates are verified; implicit TLS works.
func TestTLSPolicy(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		host, tls string
		ok        bool
	}{
		{"mail.example.com", mail.TLSNone, false},
		{"10.0.0.1", mail.TLSNone, false},
		{"127.0.0.1", mail.TLSNone, true},
		{"::1", mail.TLSNone, true},
		{"localhost", mail.TLSNone, true},
		{"mail.example.com", mail.TLSStartTLS, true},
		{"mail.example.com", mail.TLSImplicit, true},
		{"mail.example.com", "skip-verify", false},
	} {
		_, err := mail.NewSMTP(mail.SMTPOptions{Host: tt.host, Port: 25, TLS: tt.tls, Timeout: 10 * time.Second})
		if (err == nil) != tt.ok {
			t.Errorf("NewSMTP(%s, %s): %v, want ok %v", tt.host, tt.tls, err, tt.ok)
		}
	}
	if _, err := mail.NewSMTP(mail.SMTPOptions{Host: "mail.example.com", Port: 587, Username: "u", TLS: mail.TLSStartTLS, Timeout: 10 * time.Second}); err == nil {
		t.Error("a user without a password was accepted")
	}

	t.Run("starttls to a server without STARTTLS fails", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.New(t, smtptest.Options{Username: "u", Password: "p", AllowInsecureAuth: true})
		err := send(t, mail.SMTPOptions{Host: srv.Host(), Port: srv.Port(), Username: "u", Password: "p", TLS: mail.TLSStartTLS, Timeout: 5 * time.Second})
		if err == nil || errors.Is(err, mail.ErrRejected) || !errors.Is(err, mail.ErrNotSent) {
			t.Errorf("send: %v, want a transient error before sending", err)
		}
		if len(srv.Messages()) != 0 {
			t.Error("a message went out in plain text")
		}
	})
	t.Run("an untrusted certificate fails", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.New(t, smtptest.Options{STARTTLS: true})
		err := send(t, mail.SMTPOptions{Host: srv.Host(), Port: srv.Port(), TLS: mail.TLSStartTLS, Timeout: 5 * time.Second})
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("send: %v, want a certificate error", err)
		}
		if len(srv.Messages()) != 0 {
			t.Error("a message went out")
		}
	})
	t.Run("a certificate for another name fails", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.New(t, smtptest.Options{STARTTLS: true})
		tr, err := mail.NewSMTP(mail.SMTPOptions{Host: "127.0.0.2", Port: srv.Port(), TLS: mail.TLSStartTLS, Timeout: 2 * time.Second, RootCAs: srv.RootCAs()})
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Send(t.Context(), testMessage); err == nil {
			t.Error("sent to a host the certificate does not name")
		}
	})
	t.Run("implicit TLS with AUTH", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.New(t, smtptest.Options{ImplicitTLS: true, Username: "u", Password: "p"})
		if err := send(t, mail.SMTPOptions{Host: srv.Host(), Port: srv.Port(), Username: "u", Password: "p", TLS: mail.TLSImplicit, Timeout: 5 * time.Second, RootCAs: srv.RootCAs()}); err != nil {
			t.Fatal(err)
		}
		m := srv.Messages()
		if len(m) != 1 || !m[0].TLS || m[0].AuthUser != "u" || strings.TrimSpace(m[0].Text) != strings.TrimSpace(testMessage.Text) || strings.TrimSpace(m[0].HTML) != testMessage.HTML {
			t.Errorf("messages: %+v", m)
		}
	})
	t.Run("plain text with AUTH to loopback", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.New(t, smtptest.Options{Username: "u", Password: "p", AllowInsecureAuth: true})
		if err := send(t, mail.SMTPOptions{Host: srv.Host(), Port: srv.Port(), Username: "u", Password: "p", TLS: mail.TLSNone, Timeout: 5 * time.Second}); err != nil {
			t.Fatal(err)
		}
		if m := srv.Messages(); len(m) != 1 || m[0].TLS || m[0].AuthUser != "u" {
			t.Errorf("messages: %+v", m)
		}
	})
	t.Run("wrong password is transient", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.New(t, smtptest.Options{STARTTLS: true, Username: "u", Password: "p"})
		err := send(t, mail.SMTPOptions{Host: srv.Host(), Port: srv.Port(), Username: "u", Password: "wrong", TLS: mail.TLSStartTLS, Timeout: 5 * time.Second, RootCAs: srv.RootCAs()})
		if err == nil || errors.Is(err, mail.ErrRejected) {
			t.Errorf("send: %v, want a transient error (a setting to fix, not this mail's fault)", err)
		}
	})
}

// TestErrorClasses: 5xx to the mail is permanent; 4xx, refused
// connections and timeouts are transient.
func TestErrorClasses(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		fault             smtptest.Fault
		rejected, notSent bool
		wantInErr         string
	}{
		{smtptest.RejectRcpt, true, true, "550"},
		{smtptest.TempFailData, false, true, "451"},
		{smtptest.RejectConnect, false, true, "421"},
		{smtptest.DropAfterData, false, false, "EOF"},
	} {
		srv := smtptest.New(t, smtptest.Options{})
		srv.SetFault(tt.fault)
		err := send(t, mail.SMTPOptions{Host: srv.Host(), Port: srv.Port(), TLS: mail.TLSNone, Timeout: 5 * time.Second})
		if err == nil || errors.Is(err, mail.ErrRejected) != tt.rejected || errors.Is(err, mail.ErrNotSent) != tt.notSent || !strings.Contains(err.Error(), tt.wantInErr) {
			t.Errorf("fault %d: %v, want rejected %v, not sent %v, mentioning %s", tt.fault, err, tt.rejected, tt.notSent, tt.wantInErr)
		}
	}
	srv := smtptest.New(t, smtptest.Options{})
	addr := srv.Port()
	srv.Close()
	err := send(t, mail.SMTPOptions{Host: "127.0.0.1", Port: addr, TLS: mail.TLSNone, Timeout: 5 * time.Second})
	if err == nil || errors.Is(err, mail.ErrRejected) || !errors.Is(err, mail.ErrNotSent) {
		t.Errorf("connection refused: %v", err)
	}
}

// TestTimeoutBoundsTheExchange: a server that never answers costs at most SMTP_TIMEOUT.
func TestTimeoutBoundsTheExchange(t *testing.T) {
	t.Parallel()
	srv := smtptest.New(t, smtptest.Options{})
	srv.SetFault(smtptest.Stall)
	start := time.Now()
	err := send(t, mail.SMTPOptions{Host: srv.Host(), Port: srv.Port(), TLS: mail.TLSNone, Timeout: 300 * time.Millisecond})
	if err == nil || errors.Is(err, mail.ErrRejected) {
		t.Errorf("send: %v, want a transient error", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("send took %s with a 300ms timeout", d)
	}
}

func TestLogTransport(t *testing.T) {
	var b bytes.Buffer
	if err := mail.NewLog(slog.New(slog.NewTextHandler(&b, nil))).Send(t.Context(), testMessage); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "https://app.example.com/x") || !strings.Contains(b.String(), "development only") {
		t.Errorf("log: %s", b.String())
	}
}
