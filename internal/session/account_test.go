package session_test

import (
	"errors"
	"testing"
	"time"

	"github.com/authd/authd/internal/session"
)

// authOf authenticates an access token.
func (f *fixture) authOf(access string) session.Auth {
	f.t.Helper()
	a, err := f.svc.Authenticate(f.t.Context(), access)
	if err != nil {
		f.t.Fatalf("authenticate: %v", err)
	}
	return a
}

// TestChangePassword: the right current password changes it; every other
// session ends at once (reason password_changed), the caller's stays;
// reset and email-change tokens go, a verification code stays; a notice
// is queued.
func TestChangePassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn)
	ctx := t.Context()
	u := f.user("ada@example.com")
	mine, other := f.start(u.ID), f.start(u.ID)
	reset := f.mintToken("reset_password", u.ID, u.Email, time.Hour)
	change := f.mintToken("change_email", u.ID, "eve@example.com", time.Hour)
	verify := f.mintToken("verify_email", u.ID, u.Email, time.Hour)

	if err := f.svc.ChangePassword(ctx, f.authOf(mine.Access), testPassword, "a new password"); err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	if !f.alive(mine.Access) {
		t.Error("the caller's session ended")
	}
	if f.alive(other.Access) {
		t.Error("another session still authenticates")
	}
	if r := f.reason(f.sid(other.Refresh)); r != string(session.ReasonPasswordChange) {
		t.Errorf("revoked_reason = %q, want password_changed", r)
	}
	if f.tokenExists(reset) || f.tokenExists(change) || !f.tokenExists(verify) {
		t.Errorf("tokens after the change: reset %v, change %v, verify %v; want false, false, true",
			f.tokenExists(reset), f.tokenExists(change), f.tokenExists(verify))
	}
	if got := f.userByID(u.ID); got.PasswordChangedAt == nil {
		t.Error("password_changed_at not set")
	}
	if ms := f.mails("password_changed", u.Email); len(ms) != 1 {
		t.Errorf("%d notices, want 1", len(ms))
	}
	if _, _, err := f.svc.Login(ctx, u.Email, "a new password", session.Client{}); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
	if _, _, err := f.svc.Login(ctx, u.Email, testPassword, session.Client{}); !errors.Is(err, session.ErrBadCredentials) {
		t.Errorf("login with the old password: %v", err)
	}
}

// TestChangePasswordRefusals: a wrong current password is
// ErrBadCredentials and counts in the login throttle (so that it locks);
// the same password is ErrSamePassword; a session ended meanwhile is
// ErrInvalid. None changes the password.
func TestChangePasswordRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn, throttled)
	ctx := t.Context()
	u := f.user("ada@example.com")
	a := f.authOf(f.start(u.ID).Access)
	if err := f.svc.ChangePassword(ctx, a, testPassword, testPassword); !errors.Is(err, session.ErrSamePassword) {
		t.Errorf("same password: %v, want ErrSamePassword", err)
	}
	var locked *session.LockedError
	for i := range 10 {
		err := f.svc.ChangePassword(ctx, a, "wrong password", "a new password")
		if errors.As(err, &locked) {
			t.Logf("locked after %d wrong passwords", i)
			break
		}
		if !errors.Is(err, session.ErrBadCredentials) {
			t.Fatalf("wrong password %d: %v, want ErrBadCredentials", i, err)
		}
	}
	if locked == nil {
		t.Fatal("wrong current passwords never locked the address")
	}
	if err := f.svc.ChangePassword(ctx, a, testPassword, "a new password"); !errors.As(err, &locked) {
		t.Errorf("right password while locked: %v, want *LockedError", err)
	}
	if _, _, err := f.svc.Login(ctx, u.Email, testPassword, session.Client{}); !errors.As(err, &locked) {
		t.Errorf("login while locked: %v, want *LockedError", err)
	}

	g := newFixture(t, mailOn)
	v := g.user("bob@example.com")
	toks := g.start(v.ID)
	b := g.authOf(toks.Access)
	if err := g.svc.Logout(ctx, toks.Access, "", session.ScopeCurrent); err != nil {
		t.Fatal(err)
	}
	if err := g.svc.ChangePassword(ctx, b, testPassword, "a new password"); !errors.Is(err, session.ErrInvalid) {
		t.Errorf("session ended meanwhile: %v, want ErrInvalid", err)
	}
	if got, _ := g.q.GetUserByID(ctx, v.ID); got.PasswordChangedAt != nil {
		t.Error("the password changed")
	}
}
