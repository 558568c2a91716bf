package session_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/session"
)

// TestValidRules: the rules for addresses, passwords and names, which the
// API and the operator's commands share.
func TestValidRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		email, want string
		ok          bool
	}{
		{" Ada@Example.COM ", "ada@example.com", true},
		{"", "", false},
		{"ada", "", false},
		{"ada@example", "", false},
		{"ada@.example.com", "", false},
		{"Ada <ada@example.com>", "", false},
		{"ada\x00@example.com", "", false},
		{strings.Repeat("a", 250) + "@b.co", "", false},
	} {
		got, err := session.ValidEmail(tc.email)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ValidEmail(%q) = %q, %v; want %q, ok %v", tc.email, got, err, tc.want, tc.ok)
		}
		var inv *session.InvalidError
		if err != nil && !errors.As(err, &inv) {
			t.Errorf("ValidEmail(%q): %T, want *InvalidError", tc.email, err)
		}
	}
	for _, tc := range []struct {
		pw string
		ok bool
	}{
		{"12345678", true},
		{" spaces  ", true},
		{strings.Repeat("x", 72), true},
		{"", false},
		{"1234567", false},
		{strings.Repeat("x", 73), false},
		{"tab\tin it", false},
	} {
		if err := session.ValidPassword(tc.pw); (err == nil) != tc.ok {
			t.Errorf("ValidPassword(%q) = %v, want ok %v", tc.pw, err, tc.ok)
		} else if err != nil && strings.Contains(err.Error(), tc.pw) && tc.pw != "" {
			t.Errorf("ValidPassword's error %q shows the password", err)
		}
	}
	for _, tc := range []struct {
		name, want string
		ok         bool
	}{
		{" Ada Lovelace ", "Ada Lovelace", true},
		{strings.Repeat("é", 100), strings.Repeat("é", 100), true},
		{strings.Repeat("é", 101), "", false},
		{"  ", "", false},
		{"Ada\nLovelace", "", false},
	} {
		got, err := session.ValidName(tc.name)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ValidName(%q) = %q, %v; want %q, ok %v", tc.name, got, err, tc.want, tc.ok)
		}
	}
}

// TestValidPhoto: a file name or an http(s) URL; nothing a client could
// run or that breaks out of markup.
func TestValidPhoto(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		photo string
		ok    bool
	}{
		{"", true},
		{"default.png", true},
		{"avatars/ada-1.png", true},
		{"/static/img/ada_2.jpeg", true},
		{"~ada.gif", true},
		{"https://example.com/ada.png", true},
		{"http://example.com:8080/a/b.png?size=64&v=2#x", true},
		{"HTTPS://EXAMPLE.COM/A.PNG", true},
		{"https://example.com/" + strings.Repeat("a", 2028), true},
		{"https://example.com/" + strings.Repeat("a", 2029), false},

		{"javascript:alert(1)", false},
		{"JavaScript:alert(1)", false},
		{" javascript:alert(1)", false},
		{"data:image/png;base64,AAAA", false},
		{"vbscript:msgbox", false},
		{"file:///etc/passwd", false},
		{"//evil.example/x.png", false},
		{"https://user:pw@example.com/a.png", false},
		{"https:///a.png", false},
		{`https://example.com/a"onerror="alert(1)`, false},
		{"https://example.com/a'b", false},
		{"https://example.com/<script>", false},
		{"https://example.com/a b.png", false},
		{`https:\\example.com\a.png`, false},
		{"<img src=x onerror=alert(1)>", false},
		{"default.png\n", false},
		{"default\x00.png", false},
		{"a b.png", false},
		{"\"default.png\"", false},
	} {
		err := session.ValidPhoto(tc.photo)
		if got := err == nil; got != tc.ok {
			t.Errorf("ValidPhoto(%.60q) = %v, want ok %v", tc.photo, err, tc.ok)
		}
		var inv *session.InvalidError
		if err != nil && !errors.As(err, &inv) {
			t.Errorf("ValidPhoto(%.60q): %T, want *InvalidError", tc.photo, err)
		}
	}
}

// TestRegisterRules: Register checks its fields before anything else, in
// the order the API has always reported them (name, email, password, its
// confirmation, photo), and says which rule broke, as the API's 400 does.
func TestRegisterRules(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ok := session.Registration{Name: "Ada", Email: "ada@example.com", Password: "password1", PasswordConfirm: "password1", Photo: "ada.png"}
	with := func(edit func(*session.Registration)) session.Registration {
		r := ok
		edit(&r)
		return r
	}
	for _, tc := range []struct {
		name string
		reg  session.Registration
		want string
	}{
		{"empty", session.Registration{}, "name is required"},
		{"blank name", with(func(r *session.Registration) { r.Name = "  " }), "name is required"},
		{"long name", with(func(r *session.Registration) { r.Name = strings.Repeat("n", 101) }), "name must be at most 100 characters"},
		{"control in name", with(func(r *session.Registration) { r.Name = "a\x00b" }), "name must not contain control characters"},
		{"bad name before bad email", with(func(r *session.Registration) { r.Name, r.Email = "", "x" }), "name is required"},
		{"no email", with(func(r *session.Registration) { r.Email = " " }), "email is required"},
		{"bad email", with(func(r *session.Registration) { r.Email = "not-an-email" }), "email is not a valid address"},
		{"bad email before no password", with(func(r *session.Registration) { r.Email, r.Password = "x", "" }), "email is not a valid address"},
		{"no password", with(func(r *session.Registration) { r.Password, r.PasswordConfirm = "", "" }), "password is required"},
		{"short password", with(func(r *session.Registration) { r.Password, r.PasswordConfirm = "short", "short" }), "password must be at least 8 bytes"},
		{"short password before a mismatch", with(func(r *session.Registration) { r.Password = "short" }), "password must be at least 8 bytes"},
		{"long password", with(func(r *session.Registration) { r.Password = strings.Repeat("p", 73); r.PasswordConfirm = r.Password }), "password must be at most 72 bytes"},
		{"control in password", with(func(r *session.Registration) { r.Password = "pass\tword"; r.PasswordConfirm = r.Password }), "password must not contain control characters"},
		{"no confirmation", with(func(r *session.Registration) { r.PasswordConfirm = "" }), "passwordConfirm is required"},
		{"mismatch", with(func(r *session.Registration) { r.PasswordConfirm = "password2" }), "Passwords do not match"},
		{"mismatch before bad photo", with(func(r *session.Registration) { r.PasswordConfirm, r.Photo = "password2", "javascript:x" }), "Passwords do not match"},
		{"bad photo", with(func(r *session.Registration) { r.Photo = "javascript:alert(1)" }), "photo must be an http(s) URL or a file name such as default.png, of at most 2048 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.Register(t.Context(), tc.reg)
			var inv *session.InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("Register = %v, want *InvalidError %q", err, tc.want)
			}
			if got := inv.Problem; got != tc.want {
				t.Errorf("Register: %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := f.q.GetUserByEmail(t.Context(), "ada@example.com"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("a refused registration wrote a user: %v", err)
	}
	su, err := f.svc.Register(t.Context(), with(func(r *session.Registration) { r.Email = " Ada@Example.COM " }))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := su.Email, "ada@example.com"; got != want || su.User.Email != want {
		t.Errorf("Signup.Email = %q, User.Email %q; want %q", got, su.User.Email, want)
	}
}

// TestFlowRules: each flow checks its input before anything else, with
// the API's messages, in the API's order.
func TestFlowRules(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn)
	u := f.user("ada@example.com")
	a := f.authOf(f.start(u.ID).Access)
	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"login: no email", func() error { _, _, err := f.svc.Login(t.Context(), " ", "", session.Client{}); return err }, "email is required"},
		{"login: no password", func() error {
			_, _, err := f.svc.Login(t.Context(), "ada@example.com", "", session.Client{})
			return err
		}, "password is required"},
		{"login: control in email", func() error {
			_, _, err := f.svc.Login(t.Context(), "ada\x00@example.com", "x", session.Client{})
			return err
		}, "email is not a valid address"},
		{"login: long email", func() error {
			_, _, err := f.svc.Login(t.Context(), strings.Repeat("a", 255), "x", session.Client{})
			return err
		}, "email is not a valid address"},
		{"forgot: bad email", func() error { return f.svc.ForgotPassword(t.Context(), "ada") }, "email is not a valid address"},
		{"resend: no email", func() error { return f.svc.ResendVerification(t.Context(), "") }, "email is required"},
		{"reset: short before mismatch", func() error { return f.svc.ResetPassword(t.Context(), "tok", "short", "other") }, "password must be at least 8 bytes"},
		{"reset: no confirmation", func() error { return f.svc.ResetPassword(t.Context(), "tok", "password1", "") }, "passwordConfirm is required"},
		{"change password: no current before short", func() error { return f.svc.ChangePassword(t.Context(), a, "", "short", "") }, "currentPassword is required"},
		{"change password: short", func() error { return f.svc.ChangePassword(t.Context(), a, testPassword, "short", "short") }, "password must be at least 8 bytes"},
		{"change password: mismatch", func() error {
			return f.svc.ChangePassword(t.Context(), a, testPassword, "password1", "password2")
		}, "Passwords do not match"},
		{"change email: bad email before no current", func() error { return f.svc.RequestEmailChange(t.Context(), a, "x", "") }, "email is not a valid address"},
		{"change email: no current", func() error { return f.svc.RequestEmailChange(t.Context(), a, "new@example.com", "") }, "currentPassword is required"},
		{"delete: no current", func() error { return f.svc.DeleteAccount(t.Context(), a, "") }, "currentPassword is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var inv *session.InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("%v, want *InvalidError %q", err, tc.want)
			}
			if got := inv.Problem; got != tc.want {
				t.Errorf("%q, want %q", got, tc.want)
			}
		})
	}
	if _, err := f.q.GetLoginThrottle(t.Context(), "ada@example.com"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("a refused input counted a login attempt: %v", err)
	}
}

// TestSetPasswordShared: the API's change and reset and the operator's
// set-password set a password by one step: each deletes the reset and
// email-change tokens (not the verification code), clears the failed
// logins, ends the sessions (all but the caller's for a change) under its
// own reason, and queues one "password changed" notice.
func TestSetPasswordShared(t *testing.T) {
	t.Parallel()
	const next = "a new password"
	for _, tc := range []struct {
		name   string
		reason string
		kept   bool // the caller's session stays
		set    func(f *fixture, u db.User, mine session.Tokens) error
	}{
		{"API change", "password_changed", true, func(f *fixture, u db.User, mine session.Tokens) error {
			return f.svc.ChangePassword(f.t.Context(), f.authOf(mine.Access), testPassword, next, next)
		}},
		{"API reset", "password_reset", false, func(f *fixture, u db.User, mine session.Tokens) error {
			tok := f.mintToken("reset_password", u.ID, u.Email, time.Hour)
			return f.svc.ResetPassword(f.t.Context(), tok, next, next)
		}},
		{"operator set-password", "password_set_by_admin", false, func(f *fixture, u db.User, mine session.Tokens) error {
			_, _, err := f.svc.Admin().SetPassword(f.t.Context(), u.Email, next)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, mailOn, func(c *config) {
				c.Options.LoginFailureThreshold = 3
				c.Options.LoginLockBase = time.Minute
				c.Options.LoginLockMax = time.Hour
			})
			ctx := t.Context()
			u := f.user("ada@example.com")
			mine, other := f.start(u.ID), f.start(u.ID)
			reset := f.mintToken("reset_password", u.ID, u.Email, time.Hour)
			change := f.mintToken("change_email", u.ID, "new@example.com", time.Hour)
			verify := f.mintToken("verify_email", u.ID, u.Email, time.Hour)
			f.svc.Login(ctx, "ada@example.com", "wrong password", session.Client{}) // one failure counted

			if err := tc.set(f, u, mine); err != nil {
				t.Fatal(err)
			}
			if f.alive(other.Access) {
				t.Error("another session still works")
			}
			if got := f.reason(f.sid(other.Refresh)); got != tc.reason {
				t.Errorf("revoked_reason %q, want %q", got, tc.reason)
			}
			if got := f.alive(mine.Access); got != tc.kept {
				t.Errorf("the caller's session alive: %v, want %v", got, tc.kept)
			}
			if f.tokenExists(reset) || f.tokenExists(change) {
				t.Error("a reset or email-change token outlived the new password")
			}
			if !f.tokenExists(verify) {
				t.Error("the verification code went too")
			}
			if _, err := f.q.GetLoginThrottle(ctx, "ada@example.com"); !errors.Is(err, db.ErrNotFound) {
				t.Errorf("login throttle after the new password: %v, want none", err)
			}
			if got := len(f.mails("password_changed", "ada@example.com")); got != 1 {
				t.Errorf("%d password_changed notices, want 1", got)
			}
			if _, _, err := f.svc.Login(ctx, "ada@example.com", next, session.Client{}); err != nil {
				t.Errorf("login with the new password: %v", err)
			}
		})
	}
}

// TestDeleteShared: the API's DeleteAccount and the operator's Delete
// delete an account by one step: its sessions end, its
// failed logins go and an "account deleted" notice is queued.
func TestDeleteShared(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		del  func(f *fixture, u db.User, mine session.Tokens) error
	}{
		{"API", func(f *fixture, u db.User, mine session.Tokens) error {
			return f.svc.DeleteAccount(f.t.Context(), f.authOf(mine.Access), testPassword)
		}},
		{"operator", func(f *fixture, u db.User, mine session.Tokens) error {
			_, _, err := f.svc.Admin().Delete(f.t.Context(), u.Email)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, mailOn, func(c *config) {
				c.Options.LoginFailureThreshold = 3
				c.Options.LoginLockBase = time.Minute
				c.Options.LoginLockMax = time.Hour
			})
			ctx := t.Context()
			u := f.user("ada@example.com")
			mine, other := f.start(u.ID), f.start(u.ID)
			f.svc.Login(ctx, "ada@example.com", "wrong password", session.Client{})

			if err := tc.del(f, u, mine); err != nil {
				t.Fatal(err)
			}
			for _, s := range []session.Tokens{mine, other} {
				if f.alive(s.Access) {
					t.Error("a session of a deleted account still works")
				}
			}
			if _, err := f.q.GetUserByID(ctx, u.ID); !errors.Is(err, db.ErrNotFound) {
				t.Errorf("user after delete: %v, want not found", err)
			}
			if _, err := f.q.GetLoginThrottle(ctx, "ada@example.com"); !errors.Is(err, db.ErrNotFound) {
				t.Errorf("login throttle after delete: %v, want none", err)
			}
			if got := len(f.mails("account_deleted", "ada@example.com")); got != 1 {
				t.Errorf("%d account_deleted notices, want 1", got)
			}
		})
	}
}
