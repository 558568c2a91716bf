package session_test

import (
	"bytes"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/onetime"
	"github.com/authd/authd/internal/session"
	"github.com/authd/authd/internal/testenv"
	"github.com/authd/authd/internal/token"
	"github.com/authd/authd/internal/totp"
)

// mfaUser is a user with an active TOTP factor, its secret, recovery
// codes, and the session (and its tokens) it enrolled from.
type mfaUser struct {
	db.User
	secret []byte
	codes  []string
	toks   session.Tokens
}

// auth authenticates an access token.
func (f *fixture) auth(access string) session.Auth {
	f.t.Helper()
	a, err := f.svc.Authenticate(f.t.Context(), access)
	if err != nil {
		f.t.Fatalf("authenticate: %v", err)
	}
	return a
}

// code is secret's TOTP code at the fixture's clock.
func (f *fixture) code(secret []byte) string { return totp.Code(secret, totp.Step(f.clock.Now())) }

// enrol registers email and turns TOTP on for it, from a fresh session.
// The clock then moves to the next step, so the enrolment's code is old.
func (f *fixture) enrol(email string) mfaUser {
	f.t.Helper()
	u := f.user(email)
	toks := f.start(u.ID)
	e, err := f.svc.EnrolTOTP(f.t.Context(), f.auth(toks.Access))
	if err != nil {
		f.t.Fatalf("enrol: %v", err)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e.Secret)
	if err != nil {
		f.t.Fatal(err)
	}
	codes, err := f.svc.ActivateTOTP(f.t.Context(), f.auth(toks.Access), f.code(secret))
	if err != nil {
		f.t.Fatalf("activate: %v", err)
	}
	f.clock.Advance(totp.Period)
	return mfaUser{User: f.userByID(u.ID), secret: secret, codes: codes, toks: toks}
}

// ticket logs u in with its password and returns the login ticket.
func (f *fixture) ticket(email string) string {
	f.t.Helper()
	_, _, err := f.svc.Login(f.t.Context(), email, testPassword, session.Client{})
	var mr *session.MFARequired
	if !errors.As(err, &mr) || !errors.Is(err, session.ErrMFARequired) {
		f.t.Fatalf("login: %v, want *MFARequired", err)
	}
	return mr.Ticket
}

func (f *fixture) liveSessions(user uuid.UUID) int {
	f.t.Helper()
	n, err := f.q.CountLiveUserSessions(f.t.Context(), db.CountLiveUserSessionsParams{UserID: user, Now: f.clock.Now()})
	if err != nil {
		f.t.Fatal(err)
	}
	return int(n)
}

// TestMFALogin: enrolment, then a login that needs the second factor and
// ends with today's login answer at aal 2.
func TestMFALogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.user("ada@example.com")
	toks := f.start(u.ID)
	a := f.auth(toks.Access)
	if a.AAL != 1 || !equal(a.AMR, "pwd") || !a.AuthTime.Equal(f.clock.Now()) {
		t.Errorf("new session: aal %d amr %v auth_time %s", a.AAL, a.AMR, a.AuthTime)
	}
	e, err := f.svc.EnrolTOTP(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.URI, "otpauth://totp/authd:ada@example.com?") || !strings.Contains(e.URI, "secret="+e.Secret) {
		t.Errorf("uri %s", e.URI)
	}
	if st, _ := f.svc.MFAStatus(t.Context(), u.ID); st.Enabled || !st.Pending {
		t.Errorf("status after enrol: %+v", st)
	}
	// Pending: the password alone still logs in.
	if _, _, err := f.svc.Login(t.Context(), u.Email, testPassword, session.Client{}); err != nil {
		t.Fatalf("login with a pending factor: %v", err)
	}
	secret, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e.Secret)
	wrong := "000000"
	if f.code(secret) == wrong {
		wrong = "111111"
	}
	if _, err := f.svc.ActivateTOTP(t.Context(), a, wrong); !errors.Is(err, session.ErrBadCode) {
		t.Errorf("activate with a wrong code: %v", err)
	}
	enrolCode := f.code(secret)
	codes, err := f.svc.ActivateTOTP(t.Context(), a, enrolCode)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != session.RecoveryCodeCount {
		t.Errorf("%d recovery codes", len(codes))
	}
	if st, _ := f.svc.MFAStatus(t.Context(), u.ID); !st.Enabled || st.Pending || st.RecoveryCodes != 10 {
		t.Errorf("status after activation: %+v", st)
	}
	if a := f.auth(toks.Access); a.AAL != 2 || !a.User.MfaEnabled {
		t.Errorf("enrolling session: aal %d, mfa %v", a.AAL, a.User.MfaEnabled)
	}
	if _, err := f.svc.EnrolTOTP(t.Context(), f.auth(toks.Access)); !errors.Is(err, session.ErrMFAEnabled) {
		t.Errorf("second enrolment: %v", err)
	}

	// A wrong password answers as for any account.
	if _, _, err := f.svc.Login(t.Context(), u.Email, "wrong password", session.Client{}); !errors.Is(err, session.ErrBadCredentials) {
		t.Errorf("wrong password: %v", err)
	}
	before := f.liveSessions(u.ID)
	ticket := f.ticket(u.Email)
	if f.liveSessions(u.ID) != before {
		t.Error("the password alone made a session")
	}
	// The enrolment code cannot be replayed as a login code.
	if _, _, err := f.svc.LoginMFA(t.Context(), ticket, enrolCode, session.Client{}); !errors.Is(err, session.ErrBadCode) {
		t.Errorf("enrolment code at login: %v, want ErrBadCode", err)
	}
	f.clock.Advance(totp.Period)
	got, user, err := f.svc.LoginMFA(t.Context(), ticket, f.code(secret), session.Client{UserAgent: "ua"})
	if err != nil {
		t.Fatalf("login step 2: %v", err)
	}
	if user.ID != u.ID || got.Access == "" || got.Refresh == "" {
		t.Errorf("login answer: %v %+v", user.ID, got)
	}
	c, err := f.tokens.Verify(token.Access, got.Access)
	if err != nil {
		t.Fatal(err)
	}
	want := token.Assurance{AAL: 2, AMR: []string{"pwd", "otp"}, AuthTime: f.clock.Now().UTC()}
	if c.Assurance.AAL != want.AAL || !equal(c.Assurance.AMR, want.AMR...) || !c.Assurance.AuthTime.Equal(want.AuthTime) {
		t.Errorf("access claims %+v, want %+v", c.Assurance, want)
	}
	// A refresh keeps the assurance: it is the session's.
	f.clock.Advance(time.Minute)
	c2, _ := f.tokens.Verify(token.Access, f.rotate(got.Refresh).Access)
	if c2.Assurance.AAL != 2 || !c2.Assurance.AuthTime.Equal(want.AuthTime) {
		t.Errorf("after refresh: %+v", c2.Assurance)
	}
	// The ticket is spent.
	if _, _, err := f.svc.LoginMFA(t.Context(), ticket, f.code(secret), session.Client{}); !errors.Is(err, session.ErrTicketInvalid) {
		t.Errorf("ticket reused: %v", err)
	}
}

func equal(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// TestMFACodeOnce: a code accepted once is refused after; the next
// step's code is accepted.
func TestMFACodeOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.enrol("ada@example.com")
	c := f.code(u.secret)
	if _, _, err := f.svc.LoginMFA(t.Context(), f.ticket(u.Email), c, session.Client{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.LoginMFA(t.Context(), f.ticket(u.Email), c, session.Client{}); !errors.Is(err, session.ErrBadCode) {
		t.Errorf("used code: %v, want ErrBadCode", err)
	}
	// The previous step's code is refused too: a later step was accepted.
	if _, _, err := f.svc.LoginMFA(t.Context(), f.ticket(u.Email), totp.Code(u.secret, totp.Step(f.clock.Now())-1), session.Client{}); !errors.Is(err, session.ErrBadCode) {
		t.Errorf("older step: %v, want ErrBadCode", err)
	}
	f.clock.Advance(totp.Period)
	if _, _, err := f.svc.LoginMFA(t.Context(), f.ticket(u.Email), f.code(u.secret), session.Client{}); err != nil {
		t.Errorf("next step's code: %v", err)
	}
}

// TestMFAParallelLogins: 20 logins with one code at once, each with its
// own ticket: exactly one session.
func TestMFAParallelLogins(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.enrol("ada@example.com")
	before := f.liveSessions(u.ID)
	tickets := make([]string, 20)
	for i := range tickets {
		tickets[i] = f.ticket(u.Email)
	}
	c := f.code(u.secret)
	var ok, bad atomic.Int32
	var wg sync.WaitGroup
	for _, tk := range tickets {
		wg.Go(func() {
			_, _, err := f.svc.LoginMFA(t.Context(), tk, c, session.Client{})
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, session.ErrBadCode):
				bad.Add(1)
			default:
				var locked *session.MFALockedError
				if !errors.As(err, &locked) {
					t.Errorf("LoginMFA: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Errorf("%d logins passed, want 1", ok.Load())
	}
	if got := f.liveSessions(u.ID) - before; got != 1 {
		t.Errorf("%d sessions made, want 1", got)
	}
}

// TestRecoveryCodeParallel: 20 uses of one recovery code at once:
// exactly one success. The use ends the other sessions and mails.
func TestRecoveryCodeParallel(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn)
	u := f.enrol("ada@example.com")
	tickets := make([]string, 20)
	for i := range tickets {
		tickets[i] = f.ticket(u.Email)
	}
	var ok atomic.Int32
	var winner atomic.Value
	var wg sync.WaitGroup
	for _, tk := range tickets {
		wg.Go(func() {
			toks, _, err := f.svc.LoginMFA(t.Context(), tk, strings.ToUpper(u.codes[3]), session.Client{})
			if err == nil {
				ok.Add(1)
				winner.Store(toks)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("%d uses passed, want 1", ok.Load())
	}
	if f.alive(u.toks.Access) {
		t.Error("the enrolling session survived a recovery code login")
	}
	if !f.alive(winner.Load().(session.Tokens).Access) {
		t.Error("the recovery login's session is dead")
	}
	if n := len(f.mails(mail.KindRecoveryCodeUsed, u.Email)); n != 1 {
		t.Errorf("%d recovery_code_used mails", n)
	}
	if st, _ := f.svc.MFAStatus(t.Context(), u.ID); st.RecoveryCodes != 9 {
		t.Errorf("%d codes left", st.RecoveryCodes)
	}
	// The 19 losers count as failures: wait out the MFA lock they caused.
	f.clock.Advance(16 * time.Minute)
	// Down to two left: a mail says so.
	for i, c := range []string{u.codes[0], u.codes[1], u.codes[2], u.codes[4], u.codes[5], u.codes[6], u.codes[7]} {
		if _, _, err := f.svc.LoginMFA(t.Context(), f.ticket(u.Email), c, session.Client{}); err != nil {
			t.Fatal(err)
		}
		if low := len(f.mails(mail.KindRecoveryCodesLow, u.Email)); (low > 0) != (i == 6) {
			t.Errorf("%d left: %d low mails", 8-i, low)
		}
	}
	if st, _ := f.svc.MFAStatus(t.Context(), u.ID); st.RecoveryCodes != 2 || len(f.mails(mail.KindRecoveryCodesLow, u.Email)) != 1 {
		t.Errorf("%d codes left, %d low mails", st.RecoveryCodes, len(f.mails(mail.KindRecoveryCodesLow, u.Email)))
	}
}

// TestLoginTicket: expiry, reuse, another user's ticket, and a few wrong
// codes end a ticket.
func TestLoginTicket(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *config) { c.Options.MFATicketAttempts = 3 })
	ada := f.enrol("ada@example.com")
	bob := f.enrol("bob@example.com")

	tk := f.ticket(ada.Email)
	f.clock.Advance(session.DefaultMFATicketTTL)
	if _, _, err := f.svc.LoginMFA(t.Context(), tk, f.code(ada.secret), session.Client{}); !errors.Is(err, session.ErrTicketInvalid) {
		t.Errorf("expired ticket: %v", err)
	}
	// Ada's ticket with Bob's code: no.
	tk = f.ticket(ada.Email)
	if _, _, err := f.svc.LoginMFA(t.Context(), tk, f.code(bob.secret), session.Client{}); !errors.Is(err, session.ErrBadCode) {
		t.Errorf("another user's code: %v", err)
	}
	// Bob's ticket and code log Bob in, never Ada.
	_, u, err := f.svc.LoginMFA(t.Context(), f.ticket(bob.Email), f.code(bob.secret), session.Client{})
	if err != nil || u.ID != bob.ID {
		t.Errorf("bob: %v %v", u.ID, err)
	}
	// Two more wrong codes: the ticket (three attempts) is dead, even for
	// the right code.
	for range 2 {
		if _, _, err := f.svc.LoginMFA(t.Context(), tk, "000000", session.Client{}); !errors.Is(err, session.ErrBadCode) && !errors.Is(err, session.ErrTicketInvalid) {
			t.Errorf("wrong code: %v", err)
		}
	}
	if _, _, err := f.svc.LoginMFA(t.Context(), tk, f.code(ada.secret), session.Client{}); !errors.Is(err, session.ErrTicketInvalid) {
		t.Errorf("ticket after 3 attempts: %v", err)
	}
	if _, _, err := f.svc.LoginMFA(t.Context(), "not a ticket", f.code(ada.secret), session.Client{}); !errors.Is(err, session.ErrTicketInvalid) {
		t.Errorf("unknown ticket: %v", err)
	}
}

// TestMFAThrottle: wrong codes lock the account's codes with a
// RetryAfter, across two services over one database, and a new login
// does not refill the budget; the password throttle is separate.
func TestMFAThrottle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *config) {
		c.Options.LoginFailureThreshold = 5
		c.Options.LoginLockBase = time.Second
		c.Options.LoginLockMax = time.Minute
	})
	g := newFixture(t, func(c *config) { c.Pool, c.Clock = f.pool, f.clock })
	u := f.enrol("ada@example.com")
	wrong := "000000"
	if f.code(u.secret) == wrong {
		wrong = "111111"
	}
	for i := range 5 {
		svc := f.svc
		if i%2 == 1 {
			svc = g.svc
		}
		if _, _, err := svc.LoginMFA(t.Context(), f.ticket(u.Email), wrong, session.Client{}); !errors.Is(err, session.ErrBadCode) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	// Locked, on the other replica too, for the right code and a new ticket.
	_, _, err := g.svc.LoginMFA(t.Context(), g.ticket(u.Email), f.code(u.secret), session.Client{})
	var locked *session.MFALockedError
	if !errors.As(err, &locked) || locked.RetryAfter <= 0 {
		t.Fatalf("after 5 wrong codes: %v, want *MFALockedError", err)
	}
	// The password is not locked by it.
	if _, _, err := f.svc.Login(t.Context(), u.Email, testPassword, session.Client{}); !errors.Is(err, session.ErrMFARequired) {
		t.Errorf("password after the MFA lock: %v", err)
	}
	f.clock.Advance(locked.RetryAfter)
	if _, _, err := f.svc.LoginMFA(t.Context(), f.ticket(u.Email), f.code(u.secret), session.Client{}); err != nil {
		t.Errorf("after the lock: %v", err)
	}
}

// TestMFAThrottleHardLimit: from 100 consecutive failures on, a lock
// lasts a day.
func TestMFAThrottleHardLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.enrol("ada@example.com")
	_, err := f.pool.Exec(t.Context(), "INSERT INTO mfa_throttle (user_id, failures, last_failure_at) VALUES ($1, 99, $2)", u.ID, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.DisableMFA(t.Context(), f.auth(u.toks.Access), "000000"); err == nil {
		t.Fatal("disabled with 000000")
	}
	err = f.svc.DisableMFA(t.Context(), f.auth(u.toks.Access), f.code(u.secret))
	var locked *session.MFALockedError
	if !errors.As(err, &locked) || locked.RetryAfter < 23*time.Hour {
		t.Errorf("after 100 failures: %v", err)
	}
}

// TestMFAEndsSessions: enabling, disabling and a recovery code each end
// the user's other sessions and mail the owner.
func TestMFAEndsSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn)
	u := f.user("ada@example.com")
	old := f.start(u.ID)
	cur := f.start(u.ID)
	e, err := f.svc.EnrolTOTP(t.Context(), f.auth(cur.Access))
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e.Secret)
	if _, err := f.svc.ActivateTOTP(t.Context(), f.auth(cur.Access), f.code(secret)); err != nil {
		t.Fatal(err)
	}
	if f.alive(old.Access) || !f.alive(cur.Access) {
		t.Errorf("after enable: old alive %v, current alive %v", f.alive(old.Access), f.alive(cur.Access))
	}
	if f.reason(f.sid(old.Refresh)) != "mfa_enabled" || len(f.mails(mail.KindMFAEnabled, u.Email)) != 1 {
		t.Error("no mfa_enabled revocation or mail")
	}

	f.clock.Advance(totp.Period)
	other, _, err := f.svc.LoginMFA(t.Context(), f.ticket(u.Email), f.code(secret), session.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.DisableMFA(t.Context(), f.auth(cur.Access), ""); err != nil {
		t.Fatalf("disable at aal2, recent: %v", err)
	}
	if f.alive(other.Access) || !f.alive(cur.Access) {
		t.Error("after disable: the other session lives or the current one died")
	}
	if len(f.mails(mail.KindMFADisabled, u.Email)) != 1 {
		t.Error("no mfa_disabled mail")
	}
	if st, _ := f.svc.MFAStatus(t.Context(), u.ID); st.Enabled || st.RecoveryCodes != 0 {
		t.Errorf("status after disable: %+v", st)
	}
	if _, _, err := f.svc.Login(t.Context(), u.Email, testPassword, session.Client{}); err != nil {
		t.Errorf("password login after disable: %v", err)
	}
}

// TestMFAGuards: enrolling needs a recent authentication; disabling
// without a code and regenerating need aal 2 and a recent one;
// Reauthenticate refreshes auth_time.
func TestMFAGuards(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.user("ada@example.com")
	toks := f.start(u.ID)
	// fresh rotates *tk: the access tokens expire as the clock moves.
	fresh := func(tk *session.Tokens) string { *tk = f.rotate(tk.Refresh); return tk.Access }
	f.clock.Advance(session.DefaultReauthWindow + time.Second)
	if _, err := f.svc.EnrolTOTP(t.Context(), f.auth(fresh(&toks))); !errors.Is(err, session.ErrReauthRequired) {
		t.Errorf("stale enrol: %v", err)
	}
	if err := f.svc.Reauthenticate(t.Context(), f.auth(fresh(&toks)), "wrong password", ""); !errors.Is(err, session.ErrBadCredentials) {
		t.Errorf("reauth with a wrong password: %v", err)
	}
	if err := f.svc.Reauthenticate(t.Context(), f.auth(fresh(&toks)), testPassword, ""); err != nil {
		t.Fatal(err)
	}
	if a := f.auth(fresh(&toks)); !a.AuthTime.Equal(f.clock.Now()) {
		t.Errorf("auth_time %s, want %s", a.AuthTime, f.clock.Now())
	}
	e, err := f.svc.EnrolTOTP(t.Context(), f.auth(fresh(&toks)))
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e.Secret)
	if _, err := f.svc.ActivateTOTP(t.Context(), f.auth(fresh(&toks)), f.code(secret)); err != nil {
		t.Fatal(err)
	}
	// A session at aal 1 (made without the factor, as Start does).
	low := f.start(u.ID)
	if err := f.svc.DisableMFA(t.Context(), f.auth(fresh(&low)), ""); !errors.Is(err, session.ErrAAL2Required) {
		t.Errorf("disable at aal 1: %v", err)
	}
	if _, err := f.svc.RegenerateRecoveryCodes(t.Context(), f.auth(fresh(&low))); !errors.Is(err, session.ErrAAL2Required) {
		t.Errorf("regenerate at aal 1: %v", err)
	}
	f.clock.Advance(session.DefaultReauthWindow + time.Second)
	if _, err := f.svc.RegenerateRecoveryCodes(t.Context(), f.auth(fresh(&toks))); !errors.Is(err, session.ErrReauthRequired) {
		t.Errorf("stale regenerate: %v", err)
	}
	if err := f.svc.Reauthenticate(t.Context(), f.auth(fresh(&low)), "", f.code(secret)); err != nil {
		t.Fatalf("reauth with a code: %v", err)
	}
	if a := f.auth(fresh(&low)); a.AAL != 2 || !a.AuthTime.Equal(f.clock.Now()) {
		t.Errorf("after code reauth: aal %d auth_time %s", a.AAL, a.AuthTime)
	}
	codes, err := f.svc.RegenerateRecoveryCodes(t.Context(), f.auth(fresh(&low)))
	if err != nil || len(codes) != 10 {
		t.Fatalf("regenerate: %d, %v", len(codes), err)
	}
	// Disabling with a code works from any session.
	f.clock.Advance(totp.Period)
	if err := f.svc.DisableMFA(t.Context(), f.auth(fresh(&toks)), f.code(secret)); err != nil {
		t.Errorf("disable with a code: %v", err)
	}
}

// TestResetKeepsFactor: a password reset by mail does not remove the
// second factor; the operator's mfa-reset does, and ends every session.
func TestResetKeepsFactor(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn)
	u := f.enrol("ada@example.com")
	tk := f.ticket(u.Email)
	raw := f.mintToken("reset_password", u.ID, u.Email, 15*time.Minute)
	if err := f.svc.ResetPassword(t.Context(), raw, "new password 1", "new password 1"); err != nil {
		t.Fatal(err)
	}
	if !f.userByID(u.ID).MfaEnabled {
		t.Error("the reset removed the factor")
	}
	if _, _, err := f.svc.LoginMFA(t.Context(), tk, f.code(u.secret), session.Client{}); !errors.Is(err, session.ErrTicketInvalid) {
		t.Errorf("a ticket from before the reset: %v", err)
	}
	if _, _, err := f.svc.Login(t.Context(), u.Email, "new password 1", session.Client{}); !errors.Is(err, session.ErrMFARequired) {
		t.Errorf("login after reset: %v", err)
	}

	toks, _, err := f.svc.LoginMFA(t.Context(), f.ticket2(u.Email, "new password 1"), f.code(u.secret), session.Client{})
	if err != nil {
		t.Fatal(err)
	}
	_, n, err := f.svc.Admin().MFAReset(t.Context(), "ADA@example.com")
	if err != nil || n != 1 {
		t.Fatalf("MFAReset: %d, %v", n, err)
	}
	if f.alive(toks.Access) || f.userByID(u.ID).MfaEnabled {
		t.Error("after mfa-reset: session alive or mfa on")
	}
	if _, _, err := f.svc.Login(t.Context(), u.Email, "new password 1", session.Client{}); err != nil {
		t.Errorf("login after mfa-reset: %v", err)
	}
	if _, _, err := f.svc.Admin().MFAReset(t.Context(), "nobody@example.com"); !errors.Is(err, session.ErrNoUser) {
		t.Errorf("unknown email: %v", err)
	}
}

// ticket2 is ticket with another password.
func (f *fixture) ticket2(email, pw string) string {
	f.t.Helper()
	_, _, err := f.svc.Login(f.t.Context(), email, pw, session.Client{})
	var mr *session.MFARequired
	if !errors.As(err, &mr) {
		f.t.Fatalf("login: %v", err)
	}
	return mr.Ticket
}

// TestMFASecretsNotInClear: no table holds the TOTP secret, a recovery
// code or a login ticket in any form a dump shows (text, hex, base32).
func TestMFASecretsNotInClear(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn)
	u := f.enrol("ada@example.com")
	tk := f.ticket(u.Email)
	rows, err := f.pool.Query(t.Context(), "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	var dump bytes.Buffer
	for _, tbl := range tables {
		var s *string
		if err := f.pool.QueryRow(t.Context(), "SELECT string_agg(t::text, E'\\n') FROM "+tbl+" t").Scan(&s); err != nil {
			t.Fatal(err)
		}
		if s != nil {
			dump.WriteString(strings.ToLower(*s))
		}
	}
	if !strings.Contains(dump.String(), "ada@example.com") {
		t.Fatal("the dump is empty")
	}
	needles := []string{totp.Base32(u.secret), hex.EncodeToString(u.secret), string(u.secret), tk, hex.EncodeToString([]byte(tk))}
	for _, c := range u.codes {
		needles = append(needles, c, onetime.NormaliseRecoveryCode(c))
	}
	for _, n := range needles {
		if strings.Contains(dump.String(), strings.ToLower(n)) {
			t.Errorf("the dump holds %q in clear", n)
		}
	}
}

// TestLoginWithoutMFAStatements: a successful login of a user without
// MFA, from a known device, takes seven statements (IsKnownDevice,
// ReserveLoginAttempt, GetUserByEmail, CreateLoginSession and its
// session.created event in one transaction, TouchKnownDevice,
// ClearLoginFailures); the first step of one with MFA
// takes four (the ticket instead of the session; no device).
func TestLoginWithoutMFAStatements(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *config) {
		c.Options.LoginFailureThreshold = 5
		c.Options.LoginLockBase = time.Second
		c.Options.LoginLockMax = time.Minute
	})
	u := f.user("ada@example.com")
	first, _, err := f.svc.Login(t.Context(), u.Email, testPassword, session.Client{})
	if err != nil {
		t.Fatal(err)
	}
	before := f.stmts.calls.Load()
	if _, _, err := f.svc.Login(t.Context(), u.Email, testPassword, session.Client{Device: first.Device}); err != nil {
		t.Fatal(err)
	}
	if got := f.stmts.calls.Load() - before; got != 7 {
		t.Errorf("login without MFA from a known device: %d statements, want 7", got)
	}
	m := f.enrol("bob@example.com")
	before = f.stmts.calls.Load()
	f.ticket(m.Email)
	if got := f.stmts.calls.Load() - before; got != 4 {
		t.Errorf("login step 1 with MFA: %d statements, want 4", got)
	}
}

// TestOathtoolCode: a code oathtool (an independent implementation)
// computes for the enrolled secret activates the factor.
func TestOathtoolCode(t *testing.T) {
	t.Parallel()
	path, err := exec.LookPath("oathtool")
	testenv.Need(t, err == nil, "oathtool not installed (apt-get install oathtool)")
	f := newFixture(t)
	u := f.user("ada@example.com")
	toks := f.start(u.ID)
	e, err := f.svc.EnrolTOTP(t.Context(), f.auth(toks.Access))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(path, "--totp", "-b", "--now", f.clock.Now().UTC().Format("2006-01-02 15:04:05 UTC"), e.Secret).Output()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ActivateTOTP(t.Context(), f.auth(toks.Access), string(bytes.TrimSpace(out))); err != nil {
		t.Errorf("oathtool's code: %v", err)
	}
}
