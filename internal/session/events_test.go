package session_test

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/reqlog"
	"github.com/authd/authd/internal/session"
	"github.com/authd/authd/internal/session/passkeytest"
	"github.com/authd/authd/internal/session/sessiontest"
)

// recorded is one row of security_events as these tests read it.
type recorded struct {
	Name, Actor, User, Session, RequestID, Client, UserAgent string
	Data                                                     map[string]any
}

// eventsSince lists the events written after id, oldest first.
func (f *fixture) eventsSince(id int64) []recorded {
	f.t.Helper()
	rows, err := f.pool.Query(f.t.Context(), `
		SELECT name, actor, coalesce(user_id::text, ''), coalesce(session_id::text, ''), request_id, client_addr, user_agent, data
		FROM security_events WHERE id > $1 ORDER BY id`, id)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []recorded
	for rows.Next() {
		var r recorded
		var data []byte
		if err := rows.Scan(&r.Name, &r.Actor, &r.User, &r.Session, &r.RequestID, &r.Client, &r.UserAgent, &data); err != nil {
			f.t.Fatal(err)
		}
		if err := json.Unmarshal(data, &r.Data); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		f.t.Fatal(err)
	}
	return out
}

// lastEvent is the id of the newest event (0: none).
func (f *fixture) lastEvent() int64 {
	f.t.Helper()
	var id int64
	if err := f.pool.QueryRow(f.t.Context(), "SELECT coalesce(max(id), 0) FROM security_events").Scan(&id); err != nil {
		f.t.Fatal(err)
	}
	return id
}

func names(rs []recorded) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name
	}
	return out
}

// client is the context of an API request as internal/http makes it.
func client(ctx context.Context) context.Context {
	return reqlog.With(ctx, reqlog.Request{ID: "req-1", Client: "192.0.2.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"})
}

// operator is the context of an operator's command as cmd/authd makes it.
func operator(ctx context.Context) context.Context {
	return reqlog.With(ctx, reqlog.Request{ID: "audit-1", Actor: "operator:alice"})
}

// eventCase is one state-changing method and the events it must write:
// set up (not recorded), act, and the names in order.
type eventCase struct {
	method string // "Service.X" or "Admin.X": the method act calls
	setup  func(f *fixture) any
	act    func(f *fixture, ctx context.Context, st any) error
	want   []string
	actor  string // of every event written; "" means "client"
}

// TestEveryChangeRecordsItsEvent lists every state-changing method of the
// Service and the Admin and the events it must write in its transaction;
// every exported method is either in this table or among the read-only
// ones, so a new method fails here until someone decides.
func TestEveryChangeRecordsItsEvent(t *testing.T) {
	t.Parallel()
	type signedIn struct {
		user session.Auth
		toks session.Tokens
	}
	signIn := func(f *fixture) any {
		u := f.user("ada@example.com")
		toks := f.start(u.ID)
		return signedIn{f.auth(toks.Access), toks}
	}
	twoSessions := func(f *fixture) any {
		st := signIn(f).(signedIn)
		f.start(st.user.User.ID)
		return st
	}
	enrolled := func(f *fixture) any { return f.enrol("ada@example.com") }
	cases := []eventCase{
		{method: "Service.Register", act: func(f *fixture, ctx context.Context, _ any) error {
			_, err := f.svc.Register(ctx, session.Registration{Name: "Ada", Email: "ada@example.com", Password: testPassword, PasswordConfirm: testPassword})
			return err
		}, want: []string{"user.registered"}},
		{method: "Service.VerifyEmail", setup: func(f *fixture) any {
			u := f.user("ada@example.com")
			return f.mintToken("verify_email", u.ID, u.Email, time.Hour)
		}, act: func(f *fixture, ctx context.Context, st any) error { return f.svc.VerifyEmail(ctx, st.(string)) },
			want: []string{"email.verified"}},
		{method: "Service.Login", setup: func(f *fixture) any { return f.user("ada@example.com") },
			act: func(f *fixture, ctx context.Context, _ any) error {
				_, _, err := f.svc.Login(ctx, "ada@example.com", testPassword, session.Client{})
				return err
			}, want: []string{"session.created"}},
		{method: "Service.Login (a device new for an account that had one)", setup: func(f *fixture) any {
			u := f.user("ada@example.com")
			if _, _, err := f.svc.Login(f.t.Context(), u.Email, testPassword, session.Client{}); err != nil {
				f.t.Fatal(err)
			}
			return u
		}, act: func(f *fixture, ctx context.Context, _ any) error {
			_, _, err := f.svc.Login(ctx, "ada@example.com", testPassword, session.Client{})
			return err
		}, want: []string{"session.created", "device.new"}},
		{method: "Service.Login (a wrong password)", setup: func(f *fixture) any { return f.user("ada@example.com") },
			act: func(f *fixture, ctx context.Context, _ any) error {
				_, _, err := f.svc.Login(ctx, "ada@example.com", "wrong password", session.Client{})
				return ignore(err, session.ErrBadCredentials)
			}, want: []string{"login.failed"}},
		{method: "Service.Login (the wrong password that locks)", setup: func(f *fixture) any {
			f.user("ada@example.com")
			for range 2 {
				f.svc.Login(f.t.Context(), "ada@example.com", "wrong password", session.Client{})
			}
			return nil
		}, act: func(f *fixture, ctx context.Context, _ any) error {
			_, _, err := f.svc.Login(ctx, "ada@example.com", "wrong password", session.Client{})
			return ignore(err, session.ErrBadCredentials)
		}, want: []string{"login.failed", "login.locked"}},
		{method: "Service.Login (unknown email)", act: func(f *fixture, ctx context.Context, _ any) error {
			_, _, err := f.svc.Login(ctx, "nobody@example.com", "wrong password", session.Client{})
			return ignore(err, session.ErrBadCredentials)
		}, want: nil},
		{method: "Service.LoginMFA", setup: func(f *fixture) any { m := f.enrol("ada@example.com"); return []any{m, f.ticket(m.Email)} },
			act: func(f *fixture, ctx context.Context, st any) error {
				m, ticket := st.([]any)[0].(mfaUser), st.([]any)[1].(string)
				_, _, err := f.svc.LoginMFA(ctx, ticket, f.code(m.secret), session.Client{})
				return err
			}, want: []string{"session.created"}},
		{method: "Service.LoginMFA (a wrong code)", setup: func(f *fixture) any { m := f.enrol("ada@example.com"); return f.ticket(m.Email) },
			act: func(f *fixture, ctx context.Context, st any) error {
				_, _, err := f.svc.LoginMFA(ctx, st.(string), "000000", session.Client{})
				return ignore(err, session.ErrBadCode)
			}, want: []string{"mfa.failed"}},
		{method: "Service.LoginMFA (a recovery code)", setup: func(f *fixture) any { m := f.enrol("ada@example.com"); return []any{m, f.ticket(m.Email)} },
			act: func(f *fixture, ctx context.Context, st any) error {
				m, ticket := st.([]any)[0].(mfaUser), st.([]any)[1].(string)
				_, _, err := f.svc.LoginMFA(ctx, ticket, m.codes[0], session.Client{})
				return err
			}, want: []string{"session.created", "session.revoked", "mfa.recovery_code_used"}},
		{method: "Service.Start", setup: func(f *fixture) any { return f.user("ada@example.com") },
			act: func(f *fixture, ctx context.Context, st any) error {
				_, err := f.svc.Start(ctx, st.(db.User).ID, session.Client{})
				return err
			}, want: []string{"session.created"}},
		{method: "Service.Rotate", setup: signIn, act: func(f *fixture, ctx context.Context, st any) error {
			_, err := f.svc.Rotate(ctx, st.(signedIn).toks.Refresh)
			return err
		}, want: nil},
		{method: "Service.Rotate (a replayed refresh token)", setup: func(f *fixture) any {
			st := signIn(f).(signedIn)
			f.rotate(st.toks.Refresh)
			f.clock.Advance(time.Minute) // past the grace
			return st
		}, act: func(f *fixture, ctx context.Context, st any) error {
			_, err := f.svc.Rotate(ctx, st.(signedIn).toks.Refresh)
			return ignore(err, session.ErrReused)
		}, want: []string{"session.revoked"}},
		{method: "Service.Logout", setup: twoSessions, act: func(f *fixture, ctx context.Context, st any) error {
			return f.svc.Logout(ctx, st.(signedIn).toks.Access, "", session.ScopeAll)
		}, want: []string{"session.revoked", "session.revoked"}},
		{method: "Service.Revoke", setup: signIn, act: func(f *fixture, ctx context.Context, st any) error {
			a := st.(signedIn).user
			return f.svc.Revoke(ctx, a.User.ID, a.Session)
		}, want: []string{"session.revoked"}},
		{method: "Service.ChangePassword", setup: twoSessions, act: func(f *fixture, ctx context.Context, st any) error {
			return f.svc.ChangePassword(ctx, st.(signedIn).user, testPassword, "a new password", "a new password")
		}, want: []string{"password.changed", "session.revoked"}},
		{method: "Service.ChangePassword (a wrong current password)", setup: signIn, act: func(f *fixture, ctx context.Context, st any) error {
			return ignore(f.svc.ChangePassword(ctx, st.(signedIn).user, "wrong password", "a new password", "a new password"), session.ErrBadCredentials)
		}, want: []string{"password.check_failed"}},
		{method: "Service.RequestEmailChange", setup: signIn, act: func(f *fixture, ctx context.Context, st any) error {
			return f.svc.RequestEmailChange(ctx, st.(signedIn).user, "ada2@example.com", testPassword)
		}, want: []string{"email.change_requested"}},
		{method: "Service.ConfirmEmailChange", setup: func(f *fixture) any {
			u := f.user("ada@example.com")
			return f.mintToken("change_email", u.ID, "ada2@example.com", time.Hour)
		}, act: func(f *fixture, ctx context.Context, st any) error { return f.svc.ConfirmEmailChange(ctx, st.(string)) },
			want: []string{"email.changed"}},
		{method: "Service.DeleteAccount", setup: signIn, act: func(f *fixture, ctx context.Context, st any) error {
			return f.svc.DeleteAccount(ctx, st.(signedIn).user, testPassword)
		}, want: []string{"session.revoked", "user.deleted"}},
		{method: "Service.ResetPassword", setup: func(f *fixture) any {
			u := f.user("ada@example.com")
			f.start(u.ID)
			return f.mintToken("reset_password", u.ID, u.Email, time.Hour)
		}, act: func(f *fixture, ctx context.Context, st any) error {
			return f.svc.ResetPassword(ctx, st.(string), "a new password", "a new password")
		}, want: []string{"password.reset", "session.revoked"}},
		{method: "Service.ForgotPassword", setup: func(f *fixture) any { return f.user("ada@example.com") },
			act: func(f *fixture, ctx context.Context, _ any) error {
				return f.svc.ForgotPassword(ctx, "ada@example.com")
			},
			want: nil},
		{method: "Service.ResendVerification", setup: func(f *fixture) any { return f.user("ada@example.com") },
			act: func(f *fixture, ctx context.Context, _ any) error {
				return f.svc.ResendVerification(ctx, "ada@example.com")
			},
			want: nil},
		{method: "Service.EnrolTOTP", setup: signIn, act: func(f *fixture, ctx context.Context, st any) error {
			_, err := f.svc.EnrolTOTP(ctx, st.(signedIn).user)
			return err
		}, want: []string{"mfa.enrolment_started"}},
		{method: "Service.ActivateTOTP", setup: func(f *fixture) any {
			st := twoSessions(f).(signedIn)
			e, err := f.svc.EnrolTOTP(f.t.Context(), st.user)
			if err != nil {
				f.t.Fatal(err)
			}
			return []any{st, e}
		}, act: func(f *fixture, ctx context.Context, st any) error {
			s, e := st.([]any)[0].(signedIn), st.([]any)[1].(session.Enrolment)
			_, err := f.svc.ActivateTOTP(ctx, s.user, f.code(decodeSecret(f, e.Secret)))
			return err
		}, want: []string{"session.revoked", "mfa.enabled"}},
		{method: "Service.DisableMFA", setup: enrolled, act: func(f *fixture, ctx context.Context, st any) error {
			m := st.(mfaUser)
			return f.svc.DisableMFA(ctx, f.auth(m.toks.Access), "")
		}, want: []string{"mfa.disabled"}},
		{method: "Service.DisableMFA (a wrong code)", setup: func(f *fixture) any {
			m := f.enrol("ada@example.com")
			f.clock.Advance(session.DefaultReauthWindow + time.Minute) // no longer recent: a code is needed
			return f.auth(f.rotate(m.toks.Refresh).Access)
		}, act: func(f *fixture, ctx context.Context, st any) error {
			return ignore(f.svc.DisableMFA(ctx, st.(session.Auth), "000000"), session.ErrBadCode)
		}, want: []string{"mfa.failed"}},
		{method: "Service.RegenerateRecoveryCodes", setup: enrolled, act: func(f *fixture, ctx context.Context, st any) error {
			_, err := f.svc.RegenerateRecoveryCodes(ctx, f.auth(st.(mfaUser).toks.Access))
			return err
		}, want: []string{"mfa.recovery_codes_regenerated"}},
		{method: "Service.Reauthenticate", setup: signIn, act: func(f *fixture, ctx context.Context, st any) error {
			return f.svc.Reauthenticate(ctx, st.(signedIn).user, testPassword, "")
		}, want: []string{"session.reauthenticated"}},
		{method: "Service.Reauthenticate (a code)", setup: enrolled, act: func(f *fixture, ctx context.Context, st any) error {
			m := st.(mfaUser)
			return f.svc.Reauthenticate(ctx, f.auth(m.toks.Access), "", f.code(m.secret))
		}, want: []string{"session.reauthenticated"}},
		{method: "Service.UpgradeHash", setup: func(f *fixture) any { return f.user("ada@example.com") },
			act: func(f *fixture, ctx context.Context, st any) error {
				f.svc.UpgradeHash(ctx, st.(db.User), testPassword)
				return nil
			}, want: nil},
		{method: "Admin.Create", actor: "operator:alice", act: func(f *fixture, ctx context.Context, _ any) error {
			_, err := f.svc.Admin().Create(ctx, session.NewUser{Email: "ada@example.com", Password: testPassword})
			return err
		}, want: []string{"user.registered"}},
		{method: "Admin.Verify", actor: "operator:alice", setup: func(f *fixture) any { return f.user("ada@example.com") },
			act: func(f *fixture, ctx context.Context, _ any) error {
				_, _, err := f.svc.Admin().Verify(ctx, "ada@example.com")
				return err
			}, want: []string{"email.verified"}},
		{method: "Admin.SetRole", actor: "operator:alice", setup: func(f *fixture) any { return f.user("ada@example.com") },
			act: func(f *fixture, ctx context.Context, _ any) error {
				_, _, err := f.svc.Admin().SetRole(ctx, "ada@example.com", session.RoleAdmin)
				return err
			}, want: []string{"user.role_changed"}},
		{method: "Admin.SetPassword", actor: "operator:alice", setup: signIn, act: func(f *fixture, ctx context.Context, _ any) error {
			_, _, err := f.svc.Admin().SetPassword(ctx, "ada@example.com", "a new password")
			return err
		}, want: []string{"password.changed", "session.revoked"}},
		{method: "Admin.RevokeSessions", actor: "operator:alice", setup: twoSessions, act: func(f *fixture, ctx context.Context, _ any) error {
			_, _, err := f.svc.Admin().RevokeSessions(ctx, "ada@example.com")
			return err
		}, want: []string{"session.revoked", "session.revoked"}},
		{method: "Admin.ResetToken", actor: "operator:alice", setup: func(f *fixture) any { return f.user("ada@example.com") },
			act: func(f *fixture, ctx context.Context, _ any) error {
				_, err := f.svc.Admin().ResetToken(ctx, "ada@example.com", time.Hour)
				return err
			}, want: []string{"password.reset_issued"}},
		{method: "Admin.Delete", actor: "operator:alice", setup: signIn, act: func(f *fixture, ctx context.Context, _ any) error {
			_, _, err := f.svc.Admin().Delete(ctx, "ada@example.com")
			return err
		}, want: []string{"session.revoked", "user.deleted"}},
		{method: "Admin.MFAReset", actor: "operator:alice", setup: enrolled, act: func(f *fixture, ctx context.Context, _ any) error {
			_, _, err := f.svc.Admin().MFAReset(ctx, "ada@example.com")
			return err
		}, want: []string{"mfa.disabled", "session.revoked"}},
		{method: "Service.RegisterPasskey", setup: func(f *fixture) any {
			st := signIn(f).(signedIn)
			opts, err := f.svc.PasskeyRegistrationOptions(f.t.Context(), st.user)
			if err != nil {
				f.t.Fatal(err)
			}
			resp, _ := passkeytest.New(sessiontest.PasskeyOrigin).Create(opts)
			return []any{st.user, resp}
		}, act: func(f *fixture, ctx context.Context, st any) error {
			_, err := f.svc.RegisterPasskey(ctx, st.([]any)[0].(session.Auth), "Laptop", st.([]any)[1].([]byte))
			return err
		}, want: []string{"passkey.added", "mfa.enabled"}},
		{method: "Service.RenamePasskey", setup: func(f *fixture) any { return f.withPasskey("ada@example.com") },
			act: func(f *fixture, ctx context.Context, st any) error {
				p := st.(pkUser)
				return f.svc.RenamePasskey(ctx, f.auth(p.toks.Access), p.added.Passkey.ID, "Work")
			}, want: []string{"passkey.renamed"}},
		{method: "Service.DeletePasskey", setup: func(f *fixture) any {
			p := f.withPasskey("ada@example.com")
			f.addPasskey(p.toks, "Phone")
			return p
		}, act: func(f *fixture, ctx context.Context, st any) error {
			p := st.(pkUser)
			return f.svc.DeletePasskey(ctx, f.auth(p.toks.Access), p.added.Passkey.ID)
		}, want: []string{"passkey.removed"}},
		{method: "Service.LoginPasskey", setup: func(f *fixture) any {
			p := f.withPasskey("ada@example.com")
			resp, _ := p.key.Get(f.loginOptions())
			return resp
		}, act: func(f *fixture, ctx context.Context, st any) error {
			_, _, err := f.svc.LoginPasskey(ctx, st.([]byte), session.Client{})
			return err
		}, want: []string{"session.created", "passkey.used"}},
		{method: "Service.LoginPasskey (no user verification)", setup: func(f *fixture) any {
			p := f.withPasskey("ada@example.com")
			p.key.UV = false
			resp, _ := p.key.Get(f.loginOptions())
			return resp
		}, act: func(f *fixture, ctx context.Context, st any) error {
			_, _, err := f.svc.LoginPasskey(ctx, st.([]byte), session.Client{})
			return ignore(err, session.ErrPasskeyRefused)
		}, want: []string{"passkey.failed"}},
		{method: "Service.LoginPasskeyMFA", setup: func(f *fixture) any {
			p := f.withPasskey("ada@example.com")
			ticket := f.ticket(p.Email)
			opts, err := f.svc.PasskeyMFAOptions(f.t.Context(), ticket)
			if err != nil {
				f.t.Fatal(err)
			}
			resp, _ := p.key.Get(opts)
			return []any{ticket, resp}
		}, act: func(f *fixture, ctx context.Context, st any) error {
			_, _, err := f.svc.LoginPasskeyMFA(ctx, st.([]any)[0].(string), st.([]any)[1].([]byte), session.Client{})
			return err
		}, want: []string{"session.created", "passkey.used"}},
		{method: "Service.ReauthenticatePasskey", setup: func(f *fixture) any {
			p := f.withPasskey("ada@example.com")
			opts, err := f.svc.PasskeyReauthOptions(f.t.Context(), f.auth(p.toks.Access))
			if err != nil {
				f.t.Fatal(err)
			}
			resp, _ := p.key.Get(opts)
			return []any{f.auth(p.toks.Access), resp}
		}, act: func(f *fixture, ctx context.Context, st any) error {
			return f.svc.ReauthenticatePasskey(ctx, st.([]any)[0].(session.Auth), st.([]any)[1].([]byte))
		}, want: []string{"session.reauthenticated", "passkey.used"}},
	}
	// Read-only, or work of authd's own outside any change of an account
	// (a ceremony's options mint only its challenge).
	readOnly := []string{
		"Service.Passkeys", "Service.PasskeyRegistrationOptions", "Service.PasskeyLoginOptions",
		"Service.PasskeyMFAOptions", "Service.PasskeyReauthOptions",
		"Service.Authenticate", "Service.List", "Service.MFAStatus", "Service.TicketUser", "Service.NeedsRehash",
		"Service.Admin", "Service.Purge", "Service.RunPurge",
		"Admin.List", "Admin.Show", "Service.SecurityEvents", "Admin.Events",
	}
	checkCovered(t, cases, readOnly)

	for _, c := range cases {
		t.Run(c.method, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, mailOn, func(c *config) {
				c.Options.Verification = session.VerificationOptional
				c.Options.LoginFailureThreshold = 3
				c.Options.LoginLockBase = time.Minute
				c.Options.LoginLockMax = time.Hour
			})
			var st any
			if c.setup != nil {
				st = c.setup(f)
			}
			mark := f.lastEvent()
			ctx := client(t.Context())
			if strings.HasPrefix(c.method, "Admin.") {
				ctx = operator(t.Context())
			}
			if err := c.act(f, ctx, st); err != nil {
				t.Fatalf("%s: %v", c.method, err)
			}
			got := f.eventsSince(mark)
			if !slices.Equal(sorted(names(got)), sorted(c.want)) {
				t.Fatalf("%s wrote %v, want %v", c.method, names(got), c.want)
			}
			actor := c.actor
			if actor == "" {
				actor = session.ActorClient
			}
			for _, e := range got {
				if e.Actor != actor || e.User == "" || e.RequestID == "" {
					t.Errorf("%s: actor %q user %q request %q, want actor %q, a user and the request id", e.Name, e.Actor, e.User, e.RequestID, actor)
				}
				if actor == session.ActorClient && (e.Client != "192.0.2.7" || !strings.HasPrefix(e.UserAgent, "Mozilla/5.0")) {
					t.Errorf("%s: client %q agent %q, want the request's", e.Name, e.Client, e.UserAgent)
				}
				switch e.Name {
				case "session.created", "session.revoked", "session.reauthenticated":
					if e.Session == "" {
						t.Errorf("%s without a session id", e.Name)
					}
				}
				if e.Name == "session.revoked" && (e.Data["reason"] == nil || e.Data["access_expires_by"] == nil) {
					t.Errorf("session.revoked data %v: want reason and access_expires_by", e.Data)
				}
				if e.Name == "session.created" && e.Data["amr"] == nil {
					t.Errorf("session.created data %v: want amr", e.Data)
				}
				if text := fmt.Sprint(e.Data); strings.Contains(text, testPassword) || strings.Contains(text, "a new password") {
					t.Errorf("%s data %s holds a password", e.Name, text)
				}
			}
		})
	}
}

// checkCovered fails for an exported method of *Service or *Admin that is
// neither in cases nor in readOnly.
func checkCovered(t *testing.T, cases []eventCase, readOnly []string) {
	t.Helper()
	known := map[string]bool{}
	for _, c := range cases {
		m, _, _ := strings.Cut(c.method, " (")
		known[m] = true
	}
	for _, m := range readOnly {
		known[m] = true
	}
	for prefix, typ := range map[string]reflect.Type{
		"Service.": reflect.TypeFor[*session.Service](), "Admin.": reflect.TypeFor[*session.Admin](),
	} {
		for i := range typ.NumMethod() {
			if name := prefix + typ.Method(i).Name; !known[name] {
				t.Errorf("%s: neither in the table of events nor read-only; decide which event it writes", name)
			}
		}
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// ignore is err unless it is want: the outcome a case expects.
func ignore(err, want error) error {
	if errors.Is(err, want) {
		return nil
	}
	return err
}

// decodeSecret decodes an enrolment's base32 secret.
func decodeSecret(f *fixture, s string) []byte {
	f.t.Helper()
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// TestLoginFloodEventsBounded: 10,000 wrong passwords, most at one account
// and the rest at unknown addresses, write at most the throttle's
// threshold of login.failed rows and one login.locked: a locked address
// is refused before its password is checked, and an unknown one has no
// account to record against.
func TestLoginFloodEventsBounded(t *testing.T) {
	t.Parallel()
	const threshold = 5
	f := newFixture(t, func(c *config) {
		c.Options.LoginFailureThreshold = threshold
		c.Options.LoginLockBase = time.Hour
		c.Options.LoginLockMax = 24 * time.Hour
	})
	f.user("ada@example.com")
	mark := f.lastEvent()
	var wg sync.WaitGroup
	attempts := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range attempts {
				email := "ada@example.com"
				if i%10 == 0 {
					email = fmt.Sprintf("nobody%d@example.com", i)
				}
				_, _, err := f.svc.Login(t.Context(), email, "wrong password", session.Client{})
				var locked *session.LockedError
				if !errors.Is(err, session.ErrBadCredentials) && !errors.As(err, &locked) {
					t.Errorf("attempt %d: %v", i, err)
				}
			}
		})
	}
	for i := range 10000 {
		attempts <- i
	}
	close(attempts)
	wg.Wait()
	got := names(f.eventsSince(mark))
	failed, locked := 0, 0
	for _, n := range got {
		switch n {
		case "login.failed":
			failed++
		case "login.locked":
			locked++
		default:
			t.Errorf("unexpected event %s", n)
		}
	}
	if failed > threshold || locked != 1 {
		t.Errorf("10,000 wrong passwords wrote %d login.failed and %d login.locked, want at most %d and exactly 1", failed, locked, threshold)
	}
}
