package session_test

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/session"
	"github.com/authd/authd/internal/session/passkeytest"
	"github.com/authd/authd/internal/session/sessiontest"
)

// pkUser is a user with a passkey on a software authenticator, and the
// session that registered it.
type pkUser struct {
	db.User
	key   *passkeytest.Authenticator
	toks  session.Tokens
	added session.PasskeyAdded
}

// addPasskey registers a passkey on a new authenticator for the session
// of toks.
func (f *fixture) addPasskey(toks session.Tokens, name string) (*passkeytest.Authenticator, session.PasskeyAdded) {
	f.t.Helper()
	a := f.auth(toks.Access)
	opts, err := f.svc.PasskeyRegistrationOptions(f.t.Context(), a)
	if err != nil {
		f.t.Fatalf("registration options: %v", err)
	}
	key := passkeytest.New(sessiontest.PasskeyOrigin)
	resp, err := key.Create(opts)
	if err != nil {
		f.t.Fatal(err)
	}
	added, err := f.svc.RegisterPasskey(f.t.Context(), a, name, resp)
	if err != nil {
		f.t.Fatalf("register passkey: %v", err)
	}
	return key, added
}

// withPasskey registers email and a passkey for it.
func (f *fixture) withPasskey(email string) pkUser {
	f.t.Helper()
	u := f.user(email)
	toks := f.start(u.ID)
	key, added := f.addPasskey(toks, "Laptop")
	return pkUser{User: f.userByID(u.ID), key: key, toks: toks, added: added}
}

// passwordless runs a whole passwordless login with key.
func (f *fixture) passwordless(key *passkeytest.Authenticator) (session.Tokens, db.User, error) {
	f.t.Helper()
	opts, err := f.svc.PasskeyLoginOptions(f.t.Context())
	if err != nil {
		f.t.Fatalf("login options: %v", err)
	}
	resp, err := key.Get(opts)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.svc.LoginPasskey(f.t.Context(), resp, session.Client{UserAgent: "test"})
}

// TestPasskeyRegistration: a recent session adds passkeys; the first
// turns two-factor authentication on (recovery codes, other sessions
// ended, this one at aal 2); each is listed with its flags, evented and
// mailed. The challenge is bound to its user and needs user verification.
func TestPasskeyRegistration(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn)
	ctx := t.Context()
	u := f.user("ada@example.com")
	toks := f.start(u.ID)
	other := f.start(u.ID)
	since := f.lastEvent()
	key, added := f.addPasskey(toks, "  Laptop ")
	if len(added.RecoveryCodes) != session.RecoveryCodeCount || added.Passkey.Name != "Laptop" {
		t.Errorf("first passkey: %d recovery codes, name %q", len(added.RecoveryCodes), added.Passkey.Name)
	}
	if !f.userByID(u.ID).MfaEnabled {
		t.Error("the first passkey did not turn two-factor authentication on")
	}
	if f.alive(other.Access) {
		t.Error("another session outlived the first passkey")
	}
	if a := f.auth(toks.Access); a.AAL != 2 || !equal(a.AMR, "hwk", "pwd", "user") {
		t.Errorf("the registering session: aal %d amr %v", a.AAL, a.AMR)
	}
	if got := names(f.eventsSince(since)); !slices.Contains(got, "passkey.added") || !slices.Contains(got, "mfa.enabled") {
		t.Errorf("events %v", got)
	}
	if len(f.mails("passkey_added", u.Email)) != 1 {
		t.Error("no passkey_added mail")
	}

	// A second one, synced: no new codes; both listed.
	f.clock.Advance(time.Second)
	a := f.auth(toks.Access)
	opts, err := f.svc.PasskeyRegistrationOptions(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	synced := passkeytest.New(sessiontest.PasskeyOrigin)
	synced.BackupEligible, synced.BackupState = true, true
	resp, _ := synced.Create(opts)
	second, err := f.svc.RegisterPasskey(ctx, a, "Phone", resp)
	if err != nil || second.RecoveryCodes != nil {
		t.Fatalf("second passkey: %v, codes %v", err, second.RecoveryCodes)
	}
	list, err := f.svc.Passkeys(ctx, u.ID)
	if err != nil || len(list) != 2 || list[0].BackupEligible || !list[1].BackupEligible || !list[1].BackupState {
		t.Fatalf("list %+v, %v", list, err)
	}
	if st, err := f.svc.MFAStatus(ctx, u.ID); err != nil || st.Enabled || st.Passkeys != 2 || st.RecoveryCodes != session.RecoveryCodeCount {
		t.Errorf("status %+v, %v", st, err)
	}
	// A TOTP factor may join the passkeys.
	if _, err := f.svc.EnrolTOTP(ctx, a); err != nil {
		t.Errorf("TOTP enrolment with passkeys on: %v", err)
	}

	// The same credential again is refused (ids are unique).
	opts, _ = f.svc.PasskeyRegistrationOptions(ctx, a)
	resp, _ = key.Create(opts)
	if _, err := f.svc.RegisterPasskey(ctx, a, "again", resp); !errors.Is(err, session.ErrPasskeyExists) {
		t.Errorf("a credential registered twice: %v", err)
	}

	// Without user verification: refused.
	opts, _ = f.svc.PasskeyRegistrationOptions(ctx, a)
	noUV := passkeytest.New(sessiontest.PasskeyOrigin)
	noUV.UV = false
	resp, _ = noUV.Create(opts)
	if _, err := f.svc.RegisterPasskey(ctx, a, "no uv", resp); !errors.Is(err, session.ErrPasskeyRefused) {
		t.Errorf("registration without user verification: %v", err)
	}

	// Another user's finish with this user's challenge is refused.
	bob := f.user("bob@example.com")
	bobAuth := f.auth(f.start(bob.ID).Access)
	opts, _ = f.svc.PasskeyRegistrationOptions(ctx, a)
	resp, _ = passkeytest.New(sessiontest.PasskeyOrigin).Create(opts)
	if _, err := f.svc.RegisterPasskey(ctx, bobAuth, "stolen", resp); !errors.Is(err, session.ErrPasskeyChallenge) {
		t.Errorf("a challenge of another user: %v", err)
	}

	// A stale session must authenticate again first.
	f.clock.Advance(session.DefaultReauthWindow + time.Second)
	if _, err := f.svc.PasskeyRegistrationOptions(ctx, f.auth(toks.Access)); !errors.Is(err, session.ErrReauthRequired) {
		t.Errorf("options without a recent authentication: %v", err)
	}
}

// TestPasskeyLogin: a discoverable passkey with user verification logs in
// with no password and no email, at aal 2 with amr [hwk, user], and a
// synced one with [swk, user]. GoTrue's pitfall (a passkey counted
// single-factor) is not authd's.
func TestPasskeyLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := f.withPasskey("ada@example.com")
	since := f.lastEvent()
	toks, user, err := f.passwordless(p.key)
	if err != nil || user.ID != p.ID {
		t.Fatalf("passwordless login: %v (user %s)", err, user.ID)
	}
	a := f.auth(toks.Access)
	if a.AAL != 2 || !equal(a.AMR, "hwk", "user") || !a.AuthTime.Equal(f.clock.Now()) {
		t.Errorf("session: aal %d amr %v auth_time %s", a.AAL, a.AMR, a.AuthTime)
	}
	if got := names(f.eventsSince(since)); !equal(got, "session.created", "passkey.used") {
		t.Errorf("events %v", got)
	}
	list, _ := f.svc.Passkeys(t.Context(), p.ID)
	if list[0].LastUsedAt == nil {
		t.Error("last use not recorded")
	}
	// A synced passkey is a software key.
	opts, _ := f.svc.PasskeyRegistrationOptions(t.Context(), f.auth(toks.Access))
	synced := passkeytest.New(sessiontest.PasskeyOrigin)
	synced.BackupEligible = true
	resp, _ := synced.Create(opts)
	if _, err := f.svc.RegisterPasskey(t.Context(), f.auth(toks.Access), "Phone", resp); err != nil {
		t.Fatal(err)
	}
	toks, _, err = f.passwordless(synced)
	if err != nil {
		t.Fatal(err)
	}
	if a := f.auth(toks.Access); a.AAL != 2 || !equal(a.AMR, "swk", "user") {
		t.Errorf("synced passkey session: aal %d amr %v", a.AAL, a.AMR)
	}
}

// TestPasskeyRefusals: each way an assertion can be wrong is refused, and
// no session starts.
func TestPasskeyRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		policy bool // RefuseCounterRegression
		tamper func(f *fixture, p pkUser, opts []byte) []byte
		want   error
	}{
		{name: "user verification failed", want: session.ErrPasskeyRefused,
			tamper: func(f *fixture, p pkUser, opts []byte) []byte { p.key.UV = false; r, _ := p.key.Get(opts); return r }},
		{name: "a signature from another authenticator", want: session.ErrPasskeyRefused,
			tamper: func(f *fixture, p pkUser, opts []byte) []byte {
				p.key.Key = passkeytest.New(sessiontest.PasskeyOrigin).Key
				r, _ := p.key.Get(opts)
				return r
			}},
		{name: "an origin not allowed", want: session.ErrPasskeyRefused,
			tamper: func(f *fixture, p pkUser, opts []byte) []byte {
				p.key.Origin = "https://evil.example"
				r, _ := p.key.Get(opts)
				return r
			}},
		{name: "another RP ID", want: session.ErrPasskeyRefused,
			tamper: func(f *fixture, p pkUser, opts []byte) []byte {
				r, _ := p.key.Sign("evil.example", passkeytest.Challenge(opts), 7)
				return r
			}},
		{name: "a challenge used twice", want: session.ErrPasskeyChallenge,
			tamper: func(f *fixture, p pkUser, opts []byte) []byte {
				r, _ := p.key.Get(opts)
				if _, _, err := f.svc.LoginPasskey(f.t.Context(), r, session.Client{}); err != nil {
					f.t.Fatalf("first use: %v", err)
				}
				return r
			}},
		{name: "a challenge never issued", want: session.ErrPasskeyChallenge,
			tamper: func(f *fixture, p pkUser, opts []byte) []byte {
				r, _ := p.key.Sign(sessiontest.PasskeyRPID, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 9)
				return r
			}},
		{name: "a counter that went back (refused)", policy: true, want: session.ErrPasskeyCloned,
			tamper: func(f *fixture, p pkUser, opts []byte) []byte {
				f.passkeyLoginOK(p) // counter 1 stored
				r, _ := p.key.Sign(sessiontest.PasskeyRPID, passkeytest.Challenge(f.loginOptions()), 1)
				return r
			}},
		{name: "a counter that went back (recorded)", policy: false, want: nil,
			tamper: func(f *fixture, p pkUser, opts []byte) []byte {
				f.passkeyLoginOK(p)
				r, _ := p.key.Sign(sessiontest.PasskeyRPID, passkeytest.Challenge(f.loginOptions()), 1)
				return r
			}},
		{name: "not a credential at all", want: session.ErrPasskeyMalformed,
			tamper: func(f *fixture, p pkUser, opts []byte) []byte { return []byte(`{"id":"x"}`) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, func(c *config) { c.Options.Passkeys.RefuseCounterRegression = tt.policy })
			p := f.withPasskey("ada@example.com")
			resp := tt.tamper(f, p, f.loginOptions())
			before := f.liveSessions(p.ID)
			_, _, err := f.svc.LoginPasskey(t.Context(), resp, session.Client{})
			if tt.want == nil {
				if err != nil {
					t.Fatalf("got %v, want a session", err)
				}
			} else if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if tt.want != nil && f.liveSessions(p.ID) != before {
				t.Error("a refused assertion started a session")
			}
			if tt.name[:9] == "a counter" {
				list, _ := f.svc.Passkeys(t.Context(), p.ID)
				if list[0].CounterRegressions != 1 {
					t.Errorf("counter regressions %d, want 1", list[0].CounterRegressions)
				}
				if got := names(f.eventsSince(0)); !slices.Contains(got, "passkey.counter_regression") {
					t.Errorf("events %v", got)
				}
			}
		})
	}
}

func (f *fixture) loginOptions() []byte {
	f.t.Helper()
	opts, err := f.svc.PasskeyLoginOptions(f.t.Context())
	if err != nil {
		f.t.Fatal(err)
	}
	return opts
}

func (f *fixture) passkeyLoginOK(p pkUser) session.Tokens {
	f.t.Helper()
	toks, _, err := f.passwordless(p.key)
	if err != nil {
		f.t.Fatalf("passwordless login: %v", err)
	}
	return toks
}

// TestPasskeyChallengeOnce: 20 concurrent finishes with one assertion,
// exactly one session.
func TestPasskeyChallengeOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := f.withPasskey("ada@example.com")
	resp, _ := p.key.Get(f.loginOptions())
	before := f.liveSessions(p.ID)
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() { _, _, errs[i] = f.svc.LoginPasskey(t.Context(), resp, session.Client{}) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, session.ErrPasskeyChallenge):
			t.Errorf("a concurrent finish: %v", err)
		}
	}
	if ok != 1 || f.liveSessions(p.ID) != before+1 {
		t.Errorf("%d of 20 concurrent finishes logged in, want 1", ok)
	}
}

// TestPasskeySecondFactor: after the right password, the login ticket and
// a passkey give a session at aal 2, amr [pwd, hwk, user]; the ticket is
// spent; a passkey of another user is refused and the ticket stays.
func TestPasskeySecondFactor(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := f.withPasskey("ada@example.com")
	bob := f.withPasskey("bob@example.com")
	ticket := f.ticket(p.Email)
	opts, err := f.svc.PasskeyMFAOptions(t.Context(), ticket)
	if err != nil {
		t.Fatal(err)
	}
	wrong, _ := bob.key.Sign(sessiontest.PasskeyRPID, passkeytest.Challenge(opts), 5)
	if _, _, err := f.svc.LoginPasskeyMFA(t.Context(), ticket, wrong, session.Client{}); !errors.Is(err, session.ErrPasskeyRefused) {
		t.Errorf("another user's passkey: %v", err)
	}
	opts, _ = f.svc.PasskeyMFAOptions(t.Context(), ticket)
	resp, _ := p.key.Get(opts)
	toks, user, err := f.svc.LoginPasskeyMFA(t.Context(), ticket, resp, session.Client{})
	if err != nil || user.ID != p.ID {
		t.Fatalf("second factor: %v", err)
	}
	if a := f.auth(toks.Access); a.AAL != 2 || !equal(a.AMR, "pwd", "hwk", "user") {
		t.Errorf("session: aal %d amr %v", a.AAL, a.AMR)
	}
	opts2, err := f.svc.PasskeyMFAOptions(t.Context(), ticket)
	if !errors.Is(err, session.ErrTicketInvalid) {
		t.Errorf("options with a spent ticket: %v (%s)", err, opts2)
	}
	// A user with TOTP but no passkey: no factor to offer.
	m := f.enrol("cy@example.com")
	if _, err := f.svc.PasskeyMFAOptions(t.Context(), f.ticket(m.Email)); !errors.Is(err, session.ErrNoFactor) {
		t.Errorf("options for a user without passkeys: %v", err)
	}
}

// TestPasskeyStepUp: a passkey refreshes auth_time and raises the session.
func TestPasskeyStepUp(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := f.withPasskey("ada@example.com")
	toks := f.start(p.ID) // aal 1, password
	f.clock.Advance(11 * time.Minute)
	a := f.auth(toks.Access)
	opts, err := f.svc.PasskeyReauthOptions(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := p.key.Get(opts)
	if err := f.svc.ReauthenticatePasskey(t.Context(), a, resp); err != nil {
		t.Fatal(err)
	}
	if a := f.auth(toks.Access); a.AAL != 2 || !a.AuthTime.Equal(f.clock.Now()) || !equal(a.AMR, "hwk", "pwd", "user") {
		t.Errorf("after step-up: aal %d amr %v auth_time %s", a.AAL, a.AMR, a.AuthTime)
	}
	// The same assertion again: its challenge is gone.
	if err := f.svc.ReauthenticatePasskey(t.Context(), a, resp); !errors.Is(err, session.ErrPasskeyChallenge) {
		t.Errorf("a replayed step-up: %v", err)
	}
	// User verification is required here too.
	opts, _ = f.svc.PasskeyReauthOptions(t.Context(), a)
	p.key.UV = false
	resp, _ = p.key.Get(opts)
	if err := f.svc.ReauthenticatePasskey(t.Context(), a, resp); !errors.Is(err, session.ErrPasskeyRefused) {
		t.Errorf("a step-up without user verification: %v", err)
	}
}

// TestPasskeyManage: rename; delete needs a recent aal 2 session; the last
// factor of an account with two-factor on stays; deletion mails; turning
// two-factor off removes the passkeys.
func TestPasskeyManage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn)
	ctx := t.Context()
	p := f.withPasskey("ada@example.com")
	a := f.auth(p.toks.Access)
	id := p.added.Passkey.ID
	if err := f.svc.RenamePasskey(ctx, a, id, "Work laptop"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RenamePasskey(ctx, a, id, string(make([]byte, 65))); !errors.Is(err, session.ErrPasskeyName) {
		t.Errorf("a bad name: %v", err)
	}
	bob := f.withPasskey("bob@example.com")
	if err := f.svc.RenamePasskey(ctx, f.auth(bob.toks.Access), id, "mine"); !errors.Is(err, session.ErrPasskeyNotFound) {
		t.Errorf("renaming another user's passkey: %v", err)
	}
	if err := f.svc.DeletePasskey(ctx, a, id); !errors.Is(err, session.ErrLastFactor) {
		t.Errorf("deleting the last factor: %v", err)
	}
	_, second := f.addPasskey(p.toks, "Phone")
	if err := f.svc.DeletePasskey(ctx, a, id); err != nil {
		t.Fatalf("deleting one of two: %v", err)
	}
	if len(f.mails("passkey_removed", p.Email)) != 1 {
		t.Error("no passkey_removed mail")
	}
	if err := f.svc.DeletePasskey(ctx, a, second.Passkey.ID); !errors.Is(err, session.ErrLastFactor) {
		t.Errorf("deleting the new last factor: %v", err)
	}
	// An aal 1 session cannot delete, nor a stale one.
	if err := f.svc.DeletePasskey(ctx, f.auth(f.start(p.ID).Access), second.Passkey.ID); !errors.Is(err, session.ErrAAL2Required) {
		t.Errorf("an aal 1 session: %v", err)
	}
	f.clock.Advance(session.DefaultReauthWindow + time.Second)
	if err := f.svc.DeletePasskey(ctx, f.auth(p.toks.Access), second.Passkey.ID); !errors.Is(err, session.ErrReauthRequired) {
		t.Errorf("a stale session: %v", err)
	}
	// Two-factor off: the passkeys go with it.
	if keys, _ := f.svc.Passkeys(ctx, p.ID); len(keys) != 1 {
		t.Fatalf("%d passkeys", len(keys))
	}
	since := f.lastEvent()
	if _, _, err := f.svc.Admin().MFAReset(ctx, p.Email); err != nil {
		t.Fatal(err)
	}
	if keys, _ := f.svc.Passkeys(ctx, p.ID); len(keys) != 0 {
		t.Errorf("%d passkeys after the MFA reset", len(keys))
	}
	if got := names(f.eventsSince(since)); !slices.Contains(got, "passkey.removed") {
		t.Errorf("events %v", got)
	}
}

// TestPasskeyThrottle: assertions of a known passkey count on its
// account's second-factor throttle; past it, even a good one is refused
// with a Retry-After.
func TestPasskeyThrottle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := f.withPasskey("ada@example.com")
	p.key.UV = false
	for range 5 {
		if _, _, err := f.passwordless(p.key); !errors.Is(err, session.ErrPasskeyRefused) {
			t.Fatalf("a bad assertion: %v", err)
		}
	}
	p.key.UV = true
	_, _, err := f.passwordless(p.key)
	var locked *session.MFALockedError
	if !errors.As(err, &locked) || locked.RetryAfter <= 0 {
		t.Fatalf("after 5 failures: %v, want *MFALockedError", err)
	}
	f.clock.Advance(locked.RetryAfter)
	if _, _, err := f.passwordless(p.key); err != nil {
		t.Errorf("after the lock: %v", err)
	}
}
