package session_test

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/password/policy"
	"github.com/authd/authd/internal/session"
	"github.com/authd/authd/internal/session/sessiontest"
)

// newPasswordFlows are the five ways a password is chosen, each trying pw
// for the user u (registered with testPassword) or, for registration and
// the operator's create, for a new address.
var newPasswordFlows = []struct {
	name string
	try  func(f *fixture, u db.User, pw string) error
}{
	{"register", func(f *fixture, u db.User, pw string) error {
		_, err := f.svc.Register(f.t.Context(), session.Registration{Name: "Bea", Email: "bea@example.com", Password: pw, PasswordConfirm: pw})
		return err
	}},
	{"reset", func(f *fixture, u db.User, pw string) error {
		raw := f.mintToken("reset_password", u.ID, u.Email, time.Hour)
		return f.svc.ResetPassword(f.t.Context(), raw, pw, pw)
	}},
	{"change", func(f *fixture, u db.User, pw string) error {
		mine := f.start(u.ID)
		return f.svc.ChangePassword(f.t.Context(), f.authOf(mine.Access), testPassword, pw, pw)
	}},
	{"operator create", func(f *fixture, u db.User, pw string) error {
		_, err := f.svc.Admin().Create(f.t.Context(), session.NewUser{Email: "cy@example.com", Password: pw})
		return err
	}},
	{"operator set-password", func(f *fixture, u db.User, pw string) error {
		_, _, err := f.svc.Admin().SetPassword(f.t.Context(), u.Email, pw)
		return err
	}},
}

// TestNewPasswordBlocklist: with the blocklist on, registration, reset,
// change and the operator's create and set-password all refuse a common
// password, whatever its case, with an *InvalidError "password is too
// common", and change nothing; with the policy off (the default) the
// tutorial's password123 is still accepted.
func TestNewPasswordBlocklist(t *testing.T) {
	t.Parallel()
	for _, flow := range newPasswordFlows {
		t.Run(flow.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, func(c *config) { c.Options.Passwords = policy.New(policy.Options{Blocklist: true}) })
			u := f.user("ada@example.com")
			for _, pw := range []string{"password123", "Password123", "QWERTYUIOP"} {
				err := flow.try(f, u, pw)
				var inv *session.InvalidError
				if !errors.As(err, &inv) || inv.Problem != "password is too common" {
					t.Errorf("%s with %q: %v, want an *InvalidError %q", flow.name, pw, err, "password is too common")
				}
			}
			for _, email := range []string{"bea@example.com", "cy@example.com"} {
				if _, err := f.q.GetUserByEmail(t.Context(), email); !errors.Is(err, db.ErrNotFound) {
					t.Errorf("%s: %v, want no such user", email, err)
				}
			}
			if got := f.userByID(u.ID); got.PasswordHash != u.PasswordHash {
				t.Error("a refused password was set")
			}

			off := newFixture(t)
			if err := flow.try(off, off.user("ada@example.com"), "password123"); err != nil {
				t.Errorf("%s with the policy off: %v", flow.name, err)
			}
		})
	}
}

// TestNewPasswordMinLength: a minimum above 8 (here 13, the length of
// testPassword) applies to every flow.
func TestNewPasswordMinLength(t *testing.T) {
	t.Parallel()
	for _, flow := range newPasswordFlows {
		t.Run(flow.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, func(c *config) { c.Options.Passwords = policy.New(policy.Options{MinLen: 13}) })
			u := f.user("ada@example.com")
			var inv *session.InvalidError
			if err := flow.try(f, u, "twelve bytes"); !errors.As(err, &inv) || inv.Problem != "password must be at least 13 bytes" {
				t.Errorf("12 bytes: %v", err)
			}
			if err := flow.try(f, u, "thirteen byte"); err != nil {
				t.Errorf("13 bytes: %v", err)
			}
		})
	}
}

// rangeAPI is a fake Pwned Passwords range API that knows one breached
// password and pads every answer with a line of count 0.
func rangeAPI(t *testing.T, breached string) *httptest.Server {
	t.Helper()
	sum := sha1.Sum([]byte(breached))
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.TrimPrefix(r.URL.Path, "/range/") == h[:5] {
			fmt.Fprintf(w, "%s:42\r\n", h[5:])
		}
		fmt.Fprintf(w, "%s:0\r\n", strings.Repeat("0", 35))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestNewPasswordBreachCheck: with the online check on, a breached
// password is refused; when the range API has no answer, the password is
// accepted (fail open), with a warning in the log and a count in
// authd_password_policy_total.
func TestNewPasswordBreachCheck(t *testing.T) {
	t.Parallel()
	const breached = "tr0ub4dor&3-breached"
	srv := rangeAPI(t, breached)
	m := metrics.New()
	k := sessiontest.New(t, func(o *sessiontest.Options) {
		o.Session.Passwords = policy.New(policy.Options{Ranges: policy.NewRanges(srv.URL+"/range/", time.Second)})
		o.Metrics = m
	})
	ctx := t.Context()
	reg := func(email, pw string) error {
		_, err := k.Service.Register(ctx, session.Registration{Name: "Bea", Email: email, Password: pw, PasswordConfirm: pw})
		return err
	}
	var inv *session.InvalidError
	if err := reg("bea@example.com", breached); !errors.As(err, &inv) || inv.Problem != "password has appeared in a data breach" {
		t.Errorf("breached password: %v", err)
	}
	if err := reg("bea@example.com", "not in any breach"); err != nil {
		t.Errorf("clean password: %v", err)
	}

	srv.Close() // the third party is down
	if err := reg("cy@example.com", breached); err != nil {
		t.Errorf("with the range API down: %v, want the password accepted", err)
	}
	if !strings.Contains(k.Logs.String(), "breached-password check failed") {
		t.Errorf("no warning logged:\n%s", k.Logs)
	}
	var out strings.Builder
	m.Write(&out)
	for _, want := range []string{`authd_password_policy_total{outcome="breached"} 1`, `authd_password_policy_total{outcome="check_failed"} 1`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestResetPasswordBadTokenNoBreachCheck: a reset with a bad token asks
// the range API nothing (it is ErrBadResetToken before the policy); one
// with a good token asks it once.
func TestResetPasswordBadTokenNoBreachCheck(t *testing.T) {
	t.Parallel()
	var asked atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		fmt.Fprintf(w, "%s:0\r\n", strings.Repeat("0", 35))
	}))
	t.Cleanup(srv.Close)
	f := newFixture(t, func(c *config) {
		c.Options.Passwords = policy.New(policy.Options{Ranges: policy.NewRanges(srv.URL+"/range/", time.Second)})
	})
	ctx := t.Context()
	u := f.user("ada@example.com")
	asked.Store(0) // registering asked it
	if err := f.svc.ResetPassword(ctx, strings.Repeat("A", 43), "a new password", "a new password"); !errors.Is(err, session.ErrBadResetToken) {
		t.Errorf("bad token: %v, want ErrBadResetToken", err)
	}
	if n := asked.Load(); n != 0 {
		t.Errorf("a bad token asked the range API %d times, want 0", n)
	}
	raw := f.mintToken("reset_password", u.ID, u.Email, time.Hour)
	if err := f.svc.ResetPassword(ctx, raw, "a new password", "a new password"); err != nil {
		t.Fatalf("good token: %v", err)
	}
	if n := asked.Load(); n != 1 {
		t.Errorf("a good token asked the range API %d times, want 1", n)
	}
}
