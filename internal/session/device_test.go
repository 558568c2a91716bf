package session_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/session"
	"github.com/authd/authd/internal/token"
)

// login logs email in with pw from device ("" none) and returns the
// tokens, or fails the test.
func (f *fixture) loginFrom(email, device string) session.Tokens {
	f.t.Helper()
	toks, _, err := f.svc.Login(f.t.Context(), email, testPassword, session.Client{UserAgent: firefox, Addr: "192.0.2.7", Device: device})
	if err != nil {
		f.t.Fatalf("login from %q: %v", device, err)
	}
	if !session.ValidDeviceID(toks.Device) {
		f.t.Fatalf("login answered device id %q", toks.Device)
	}
	return toks
}

// devices counts the user's known devices.
func (f *fixture) devices(u db.User) int {
	f.t.Helper()
	n, err := f.q.CountKnownDevices(f.t.Context(), u.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return int(n)
}

const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

// randomDeviceID is a well-formed device id no login handed out.
func randomDeviceID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashOf is what known_devices stores of device id d.
func hashOf(d string) []byte { h := sha256.Sum256([]byte(d)); return h[:] }

// TestKnownDeviceBudget: 20 wrong passwords without a device cookie lock
// the account for clients without one, but the owner's known device keeps
// its own budget and logs in; a wrong password with a forged or unknown
// device id counts as one without; and a known device's wrong passwords
// lock that device only.
func TestKnownDeviceBudget(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *config) {
		c.Options.LoginFailureThreshold = 5
		c.Options.LoginLockBase = time.Minute
		c.Options.LoginLockMax = time.Hour
	})
	ctx := t.Context()
	u := f.user("ada@example.com")
	known := f.loginFrom(u.Email, "").Device

	var locked *session.LockedError
	for i := range 20 {
		_, _, err := f.svc.Login(ctx, u.Email, "wrong password", session.Client{})
		if i >= 5 && !errors.As(err, &locked) {
			t.Fatalf("wrong password %d without a device: %v, want *LockedError", i+1, err)
		}
	}
	if _, _, err := f.svc.Login(ctx, u.Email, testPassword, session.Client{}); !errors.As(err, &locked) {
		t.Fatalf("right password without a device: %v, want *LockedError", err)
	}
	for _, d := range []string{randomDeviceID(t), "not-a-device-id", known + "x"} {
		if _, _, err := f.svc.Login(ctx, u.Email, "wrong password", session.Client{Device: d}); !errors.As(err, &locked) {
			t.Errorf("wrong password from unknown device %q: %v, want *LockedError", d, err)
		}
	}
	// The owner, from the known device, is not locked out.
	if toks := f.loginFrom(u.Email, known); toks.Device != known {
		t.Errorf("login from a known device answered device %q, want the same %q", toks.Device, known)
	}

	// Another account: the known device's wrong passwords count against
	// its own budget only.
	b := f.user("bob@example.com")
	dev := f.loginFrom(b.Email, "").Device
	for i := range 6 {
		_, _, err := f.svc.Login(ctx, b.Email, "wrong password", session.Client{Device: dev})
		if i == 5 && !errors.As(err, &locked) {
			t.Fatalf("wrong password %d from the known device: %v, want *LockedError", i+1, err)
		}
	}
	f.loginFrom(b.Email, "") // no device: a budget of its own, untouched
}

// TestNewDeviceMail: a user's first device ever is recorded without a
// mail; the same device again mails nothing; the first login from a
// second device mails the owner once, with the browser and address and no
// device id or token; NEW_DEVICE_MAIL off mails nothing.
func TestNewDeviceMail(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn, func(c *config) { c.Options.NewDeviceMail = true })
	u := f.user("ada@example.com")
	first := f.loginFrom(u.Email, "")
	f.loginFrom(u.Email, first.Device)
	if n := len(f.mails(mail.KindNewDevice, u.Email)); n != 0 {
		t.Fatalf("%d new_device mails after the first device's logins, want 0", n)
	}
	if n := f.devices(u); n != 1 {
		t.Fatalf("%d known devices, want 1", n)
	}
	second := f.loginFrom(u.Email, "")
	f.loginFrom(u.Email, second.Device)
	mails := f.mails(mail.KindNewDevice, u.Email)
	if len(mails) != 1 {
		t.Fatalf("%d new_device mails after a second device, want 1", len(mails))
	}
	data := string(mails[0].Data)
	var d mail.Data
	if err := json.Unmarshal(mails[0].Data, &d); err != nil {
		t.Fatal(err)
	}
	if d.Device != "Firefox on Linux" || d.Addr != "192.0.2.7" || d.At != f.clock.Now().UTC().Format("2 Jan 2006 15:04 UTC") {
		t.Errorf("mail data %+v", d)
	}
	for _, secret := range []string{first.Device, second.Device, second.Access, second.Refresh} {
		if strings.Contains(data, secret) {
			t.Errorf("mail data %s holds a device id or token", data)
		}
	}

	// A third device within MAIL_COOLDOWN: the notice is withheld, and
	// the device stays unknown, so that its next login mails.
	third := f.loginFrom(u.Email, "")
	if n, d := len(f.mails(mail.KindNewDevice, u.Email)), f.devices(u); n != 1 || d != 2 {
		t.Fatalf("within the cool-down: %d mails, %d devices; want 1 and 2", n, d)
	}
	f.clock.Advance(2 * time.Minute)
	f.loginFrom(u.Email, third.Device)
	if n, d := len(f.mails(mail.KindNewDevice, u.Email)), f.devices(u); n != 2 || d != 3 {
		t.Fatalf("after the cool-down: %d mails, %d devices; want 2 and 3", n, d)
	}

	off := newFixture(t, mailOn) // NewDeviceMail false
	v := off.user("bob@example.com")
	off.loginFrom(v.Email, "")
	off.loginFrom(v.Email, "")
	if n, d := len(off.mails(mail.KindNewDevice, v.Email)), off.devices(v); n != 0 || d != 2 {
		t.Errorf("NEW_DEVICE_MAIL off: %d mails, %d devices; want 0 and 2", n, d)
	}
}

// TestNewDeviceMailAfterMFA: with a second factor the device is recorded
// (and mailed about) at the second step, which creates the session.
func TestNewDeviceMailAfterMFA(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn, func(c *config) { c.Options.NewDeviceMail = true })
	m := f.enrol("ada@example.com")
	toks, _, err := f.svc.LoginMFA(t.Context(), f.ticket(m.Email), f.code(m.secret), session.Client{UserAgent: firefox})
	if err != nil {
		t.Fatal(err)
	}
	if !session.ValidDeviceID(toks.Device) || f.devices(m.User) != 1 || len(f.mails(mail.KindNewDevice, m.Email)) != 0 {
		t.Fatalf("first MFA login: device %q, %d devices, %d mails; want one device, no mail",
			toks.Device, f.devices(m.User), len(f.mails(mail.KindNewDevice, m.Email)))
	}
	f.clock.Advance(time.Minute) // the next TOTP step
	if _, _, err := f.svc.LoginMFA(t.Context(), f.ticket(m.Email), f.code(m.secret), session.Client{}); err != nil {
		t.Fatal(err)
	}
	if n := len(f.mails(mail.KindNewDevice, m.Email)); n != 1 {
		t.Errorf("second device's MFA login: %d mails, want 1", n)
	}
}

// TestKnownDevicesCapped: a user keeps at most 50 devices, the most
// recently seen; older ones are deleted as new ones come.
func TestKnownDevicesCapped(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.user("ada@example.com")
	oldest := f.loginFrom(u.Email, "").Device
	var last string
	for range 54 {
		f.clock.Advance(time.Second)
		last = f.loginFrom(u.Email, "").Device
	}
	if n := f.devices(u); n != 50 {
		t.Fatalf("%d known devices after 55, want 50", n)
	}
	known := func(d string) bool {
		b, err := f.q.IsKnownDevice(t.Context(), db.IsKnownDeviceParams{Email: u.Email, DeviceHash: hashOf(d)})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if known(oldest) || !known(last) {
		t.Errorf("oldest still known %v, newest known %v; want false, true", known(oldest), known(last))
	}
}

// TestRoleClaim: with RoleClaim the access tokens of a login, an MFA
// login and a refresh carry the user's role, and a role change shows at
// the next refresh; without it they carry none.
func TestRoleClaim(t *testing.T) {
	t.Parallel()
	role := func(f *fixture, access string) string {
		t.Helper()
		c, err := f.tokens.Verify(token.Access, access)
		if err != nil {
			t.Fatal(err)
		}
		return c.Assurance.Role
	}
	f := newFixture(t, func(c *config) { c.Options.RoleClaim = true })
	u := f.user("ada@example.com")
	toks := f.loginFrom(u.Email, "")
	if r := role(f, toks.Access); r != "user" {
		t.Fatalf("login: role %q, want user", r)
	}
	if _, err := f.pool.Exec(t.Context(), "UPDATE users SET role = 'admin' WHERE id = $1", u.ID); err != nil {
		t.Fatal(err)
	}
	if r := role(f, toks.Access); r != "user" {
		t.Errorf("the token before the change: role %q, want user", r)
	}
	next := f.rotate(toks.Refresh)
	if r := role(f, next.Access); r != "admin" {
		t.Errorf("refresh after the change: role %q, want admin", r)
	}
	// A refresh in the reuse grace (the previous token again) reads it too.
	if again, err := f.svc.Rotate(t.Context(), toks.Refresh); err != nil || role(f, again.Access) != "admin" {
		t.Errorf("refresh in grace: %v, role %q; want admin", err, role(f, again.Access))
	}
	m := f.enrol("bob@example.com")
	mt, _, err := f.svc.LoginMFA(t.Context(), f.ticket(m.Email), f.code(m.secret), session.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if r := role(f, mt.Access); r != "user" {
		t.Errorf("MFA login: role %q, want user", r)
	}

	off := newFixture(t)
	v := off.user("carol@example.com")
	ot := off.loginFrom(v.Email, "")
	if r := role(off, ot.Access); r != "" {
		t.Errorf("setting off, login: role %q, want none", r)
	}
	if r := role(off, off.rotate(ot.Refresh).Access); r != "" {
		t.Errorf("setting off, refresh: role %q, want none", r)
	}
}

func TestBrowserSummary(t *testing.T) {
	for ua, want := range map[string]string{
		firefox: "Firefox on Linux",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0":           "Edge on Windows",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1": "Safari on iOS",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36":                   "Chrome on macOS",
		"curl/8.5.0": "curl",
		"":           "An unknown browser",
		"<script>alert(1)</script> Linux\r\nBcc: x@example.com": "An unknown browser on Linux",
	} {
		if got := session.BrowserSummary(ua); got != want {
			t.Errorf("BrowserSummary(%q) = %q, want %q", ua, got, want)
		}
	}
}

// TestPlantedDeviceIDNotAdopted: a well-formed device id that is not yet
// known for the account (one an attacker planted in the victim's browser)
// is not adopted at the login: the account's new device gets a fresh id,
// and the planted one stays unknown to it.
func TestPlantedDeviceIDNotAdopted(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.user("ada@example.com")
	mallory := f.user("mallory@example.com")
	planted, _, err := f.svc.Login(t.Context(), mallory.Email, testPassword, session.Client{}) // a valid id, known for mallory
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := f.svc.Login(t.Context(), u.Email, testPassword, session.Client{Device: planted.Device})
	if err != nil {
		t.Fatal(err)
	}
	if got.Device == "" || got.Device == planted.Device {
		t.Errorf("ada's login kept the planted device id %q (got %q)", planted.Device, got.Device)
	}
	again, _, err := f.svc.Login(t.Context(), u.Email, testPassword, session.Client{Device: got.Device})
	if err != nil || again.Device != got.Device {
		t.Errorf("ada's own device id not kept at her next login: %q, %v", again.Device, err)
	}
}

// TestResetForgetsDevices: a password reset ends the account's known
// devices (an intruder's among them would keep a login budget and the
// hashing lane of its own); a password change by the signed-in user
// keeps them.
func TestResetForgetsDevices(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.user("ada@example.com")
	toks, _, err := f.svc.Login(t.Context(), u.Email, testPassword, session.Client{})
	if err != nil {
		t.Fatal(err)
	}
	count := func() int64 {
		t.Helper()
		n, err := f.q.CountKnownDevices(t.Context(), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count() != 1 {
		t.Fatalf("known devices after the login: %d, want 1", count())
	}
	if err := f.svc.ChangePassword(t.Context(), f.auth(toks.Access), testPassword, "a new password", "a new password"); err != nil {
		t.Fatal(err)
	}
	if count() != 1 {
		t.Errorf("known devices after a password change: %d, want 1", count())
	}
	raw := f.mintToken("reset_password", u.ID, u.Email, time.Hour)
	if err := f.svc.ResetPassword(t.Context(), raw, "another password", "another password"); err != nil {
		t.Fatal(err)
	}
	if count() != 0 {
		t.Errorf("known devices after a reset: %d, want 0", count())
	}
}
