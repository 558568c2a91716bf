package session_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/session"
)

// heldCompare is a hasher whose first compare waits until release is
// closed (entered is closed when it starts); every other compare and hash
// runs at once, on slots of their own.
type heldCompare struct {
	entered, release chan struct{}
	once             sync.Once
}

func newHeldCompare() *heldCompare {
	return &heldCompare{entered: make(chan struct{}), release: make(chan struct{})}
}

func (g *heldCompare) options() password.Options {
	return password.Options{Cost: 4, Concurrency: 4, Queue: 64, Wait: 10 * time.Second,
		Compare: func(hash, pw []byte) error {
			first := false
			g.once.Do(func() { first = true; close(g.entered) })
			if first {
				<-g.release
			}
			return bcrypt.CompareHashAndPassword(hash, pw)
		}}
}

// TestLoginInFlightLosesToPasswordChange: a login whose compare of the old
// password is in flight while the owner resets it, changes it, or the
// operator sets it gets no session: the session is created only if the
// hash compared is still the user's.
func TestLoginInFlightLosesToPasswordChange(t *testing.T) {
	t.Parallel()
	const next = "the owner's new password"
	for _, tt := range []struct {
		name   string
		change func(f *fixture, u db.User) error
	}{
		{"reset", func(f *fixture, u db.User) error {
			raw := f.mintToken("reset_password", u.ID, u.Email, time.Hour)
			return f.svc.ResetPassword(f.t.Context(), raw, next, next)
		}},
		{"change", func(f *fixture, u db.User) error {
			mine := f.start(u.ID)
			return f.svc.ChangePassword(f.t.Context(), f.authOf(mine.Access), testPassword, next, next)
		}},
		{"operator set-password", func(f *fixture, u db.User) error {
			_, _, err := f.svc.Admin().SetPassword(f.t.Context(), u.Email, next)
			return err
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newHeldCompare()
			f := newFixture(t, func(c *config) { c.Hasher = g.options() })
			const email = "ada@example.com"
			u := f.user(email)

			type result struct {
				toks session.Tokens
				err  error
			}
			done := make(chan result, 1)
			go func() {
				toks, _, err := f.svc.Login(t.Context(), email, testPassword, session.Client{})
				done <- result{toks, err}
			}()
			released := false
			defer func() {
				if !released {
					close(g.release)
					<-done
				}
			}()
			<-g.entered // the thief's compare of the old password is in flight

			if err := tt.change(f, u); err != nil {
				t.Fatalf("the owner's %s: %v", tt.name, err)
			}
			close(g.release)
			released = true
			r := <-done
			if r.err == nil {
				if f.alive(r.toks.Access) {
					t.Error("the thief's session works after the password changed")
				}
				if _, err := f.svc.Rotate(t.Context(), r.toks.Refresh); err == nil {
					t.Error("the thief's refresh token rotates after the password changed")
				}
				t.Fatalf("the login in flight with the old password = success, want session.ErrBadCredentials")
			}
			if !errors.Is(r.err, session.ErrBadCredentials) {
				t.Errorf("the login in flight with the old password = %v, want session.ErrBadCredentials", r.err)
			}
			if _, _, err := f.svc.Login(t.Context(), email, next, session.Client{}); err != nil {
				t.Errorf("the owner's login with the new password: %v", err)
			}
		})
	}
}

// TestUpgradeHashKeepsNewerPassword: a hash upgrade that follows a login
// whose user was read before a password change leaves the new password.
func TestUpgradeHashKeepsNewerPassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	const next = "the owner's new password"
	u := f.user("ada@example.com") // as a login read it
	if _, _, err := f.svc.Admin().SetPassword(ctx, u.Email, next); err != nil {
		t.Fatal(err)
	}
	set := f.userByID(u.ID).PasswordHash
	f.svc.UpgradeHash(ctx, u, testPassword)
	if got := f.userByID(u.ID).PasswordHash; got != set {
		t.Error("UpgradeHash overwrote the password set after its login read the user")
	}
	if _, _, err := f.svc.Login(ctx, u.Email, testPassword, session.Client{}); !errors.Is(err, session.ErrBadCredentials) {
		t.Errorf("login with the old password after the upgrade: %v, want ErrBadCredentials", err)
	}
}

// TestResetTokenBuysOneHash: of n concurrent resets with one token at most
// one hashes a password (the others fail on the token first), and exactly
// one succeeds. A reset refused for a full hashing queue leaves the token
// as it was.
func TestResetTokenBuysOneHash(t *testing.T) {
	t.Parallel()
	var hashes atomic.Int64 // slots taken: no compare runs here, so hashes
	f := newFixture(t, func(c *config) {
		c.Hasher.OnWait = func(time.Duration) { hashes.Add(1) }
	})
	ctx := t.Context()
	u := f.user("ada@example.com")
	raw := f.mintToken("reset_password", u.ID, u.Email, time.Hour)
	hashes.Store(0) // the registration's

	const n = 20
	start := make(chan struct{})
	var (
		wg       sync.WaitGroup
		ok, fail atomic.Int64
	)
	for i := range n {
		wg.Go(func() {
			<-start
			pw := "new password " + string(rune('a'+i))
			switch err := f.svc.ResetPassword(ctx, raw, pw, pw); {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, session.ErrBadResetToken):
				fail.Add(1)
			default:
				t.Errorf("reset %d: %v", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if ok.Load() != 1 || fail.Load() != n-1 {
		t.Errorf("%d succeeded, %d refused; want 1 and %d", ok.Load(), fail.Load(), n-1)
	}
	if got := hashes.Load(); got > 1 {
		t.Errorf("%d concurrent resets with one token hashed %d passwords, want at most 1", n, got)
	}
}

// TestResetBusyKeepsToken: a reset refused for a full hashing queue
// (password.ErrBusy) has not used its token up; it works once the queue
// has room.
func TestResetBusyKeepsToken(t *testing.T) {
	t.Parallel()
	g := newHeldCompare()
	f := newFixture(t, func(c *config) {
		c.Hasher = g.options()
		c.Hasher.Concurrency, c.Hasher.Queue = 1, 0
	})
	ctx := t.Context()
	u := f.user("ada@example.com")
	raw := f.mintToken("reset_password", u.ID, u.Email, time.Hour)
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.svc.Login(ctx, u.Email, testPassword, session.Client{})
	}()
	<-g.entered // the only slot is taken
	err := f.svc.ResetPassword(ctx, raw, "a new password", "a new password")
	close(g.release)
	<-done
	if !errors.Is(err, password.ErrBusy) {
		t.Fatalf("reset with hashing full: %v, want password.ErrBusy", err)
	}
	if !f.tokenExists(raw) {
		t.Fatal("a busy reset used the token up")
	}
	if err := f.svc.ResetPassword(ctx, raw, "a new password", "a new password"); err != nil {
		t.Errorf("the same token once hashing has room: %v", err)
	}
}

// TestResetLosesToChangeDuringItsHash: a password set by the operator
// while a reset whose token is spent hashes its password wins; the reset
// is ErrBadResetToken, as it was when the token was spent after the hash.
func TestResetLosesToChangeDuringItsHash(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int64
	f := newFixture(t, func(c *config) {
		c.Hasher.OnWait = func(time.Duration) {
			if calls.Add(1) == 2 { // the first is the registration's hash
				close(entered)
				<-release
			}
		}
	})
	ctx := t.Context()
	u := f.user("ada@example.com")
	raw := f.mintToken("reset_password", u.ID, u.Email, time.Hour)
	done := make(chan error, 1)
	go func() { done <- f.svc.ResetPassword(ctx, raw, "the reset password", "the reset password") }()
	<-entered // the reset has spent its token and holds a hashing slot
	_, _, err := f.svc.Admin().SetPassword(ctx, u.Email, "the operator's password")
	close(release)
	if err != nil {
		t.Fatalf("set-password: %v", err)
	}
	if err := <-done; !errors.Is(err, session.ErrBadResetToken) {
		t.Errorf("the reset overtaken by set-password: %v, want ErrBadResetToken", err)
	}
	if _, _, err := f.svc.Login(ctx, u.Email, "the operator's password", session.Client{}); err != nil {
		t.Errorf("login with the operator's password: %v", err)
	}
}

// TestNewerEmailChangeEndsOlderLinks: a newer email change request ends
// the links of the older ones, whether its own address is free, taken or
// refused a mail by its allowance; the newest link still confirms.
func TestNewerEmailChangeEndsOlderLinks(t *testing.T) {
	t.Parallel()
	for _, newer := range []string{"right@example.com", "bob@example.com", "cooled@example.com"} {
		t.Run(newer, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, mailOn)
			ctx := t.Context()
			u := f.user("ada@example.com")
			f.user("bob@example.com")
			a := f.authOf(f.start(u.ID).Access)
			request := func(email string) {
				t.Helper()
				if err := f.svc.RequestEmailChange(ctx, a, email, testPassword); err != nil {
					t.Fatalf("RequestEmailChange(%s): %v", email, err)
				}
			}
			if newer == "cooled@example.com" { // its allowance is used up: no mail
				request(newer)
				f.link("change_email", newer) // and its link is sent
			}
			request("mistyped@example.com")
			older := f.link("change_email", "mistyped@example.com")
			request(newer)
			if err := f.svc.ConfirmEmailChange(ctx, older); !errors.Is(err, session.ErrBadEmailChangeToken) {
				t.Errorf("the older link after a newer request: %v, want ErrBadEmailChangeToken", err)
			}
			if got := f.userByID(u.ID).Email; got != u.Email {
				t.Errorf("the account moved to %s", got)
			}
			if newer == "right@example.com" {
				if err := f.svc.ConfirmEmailChange(ctx, f.link("change_email", newer)); err != nil {
					t.Errorf("the newest link: %v", err)
				}
			}
		})
	}
}

// TestValidEmailRefusesRouting: addresses whose delivery the sender's
// network decides (IP literals, numeric hosts, % and ! routing, quoted
// local parts) get the same answer as any invalid address.
func TestValidEmailRefusesRouting(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		email string
		ok    bool
	}{
		{"a@[10.0.0.5]", false},
		{"a@[127.0.0.1]", false},
		{"a@[ipv6:::1]", false},
		{"a@127.0.0.1", false},
		{"a@10.0.0.5", false},
		{"a@127.1", false},
		{"a@1.2.3.4.5", false},
		{"a%b@c.com", false},
		{"a%b.example@c.com", false},
		{"a!b@c.com", false},
		{`"a@b"@c.com`, false},
		{`"a%b"@c.com`, false},
		{"a@-c.com", false},
		{"a@c-.com", false},
		{"a@c_d.com", false},
		{"a@c..com", false},
		{"a@b.c.123", false},
		{"a@0x7f.0x1", false},
		{"a@0x7f000001.0x", false},
		// Forms IDNA (UTS-46) maps to a numeric host: compatibility
		// characters, which NFKC changes, and ignorables it drops.
		{"a@127.0.0.\uff11", false}, // fullwidth 1
		{"a@0x7f.0x\uff11", false},  // fullwidth 1
		{"a@\uff11\uff12\uff17.0.0.1", false},
		{"a@127.0.0.\U0001d7cf", false},       // mathematical bold 1
		{"a@127.0.0.\u2460", false},           // circled 1
		{"a@127.0.0.\u00b9", false},           // superscript 1
		{"a@127.0.0.1\ufe00", false},          // variation selector
		{"a@127.0.0.1\u034f", false},          // combining grapheme joiner
		{"a@127.0.0.1\U000e0100", false},      // variation selector supplement
		{"a@127.0.0.1\u180b", false},          // Mongolian free variation selector
		{"a@127\uff0e0\uff0e0\uff0e1", false}, // fullwidth full stops
		{"a@\uff43.com", false},               // fullwidth c: refused, not rewritten
		{"a@bu\u0308cher.example", false},     // not in NFC: refused, not rewritten
		// Still accepted.
		{"a@c.com", true},
		{"a+tag@c.com", true},
		{"a.b-c_d@mail.c-d.co.uk", true},
		{"a@123.example.com", true},
		{"a@1e100.net", true},
		{"a@0x.example.com", true},
		{"a@xn--bcher-kva.example", true},
		{"a@bücher.example", true},
		{"a@\u4f8b\u3048.\u30c6\u30b9\u30c8", true}, // 例え.テスト
		{"a@\u0661\u0662.example", true},            // Arabic-Indic digits in a label
	} {
		_, err := session.ValidEmail(tc.email)
		if (err == nil) != tc.ok {
			t.Errorf("ValidEmail(%q) = %v, want ok %v", tc.email, err, tc.ok)
		}
		var inv *session.InvalidError
		if err != nil && (!errors.As(err, &inv) || err.Error() != "email is not a valid address") {
			t.Errorf("ValidEmail(%q) = %v, want the invalid-address answer", tc.email, err)
		}
	}
}

// TestHideExistingSurvivesLogin: with REGISTER_HIDE_EXISTING in force, an
// attacker who registers an address with a password of theirs and then
// logs in with it learns nothing: a free address (a new unverified
// account) and a taken one answer alike, ErrBadCredentials, counted as a
// failure either way. Once verified, the account logs in.
func TestHideExistingSurvivesLogin(t *testing.T) {
	t.Parallel()
	for _, mode := range []session.Verification{session.VerificationRequired, session.VerificationOptional} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, mailOn, throttled, verification(mode), func(c *config) { c.Options.HideExisting = true })
			ctx := t.Context()
			f.user("owner@example.com")
			const attackers = "the attacker's password"
			probe := func(email string) (error, int32) {
				t.Helper()
				_, err := f.svc.Register(ctx, session.Registration{Name: "Eve", Email: email, Password: attackers, PasswordConfirm: attackers})
				if err != nil {
					t.Fatalf("register %s: %v", email, err)
				}
				_, _, err = f.svc.Login(ctx, email, attackers, session.Client{})
				th, terr := f.q.GetLoginThrottle(ctx, email)
				if terr != nil {
					t.Errorf("%s: login_throttle: %v", email, terr)
				}
				return err, th.Failures
			}
			freeErr, freeCount := probe("free@example.com")
			takenErr, takenCount := probe("owner@example.com")
			if !errors.Is(freeErr, session.ErrBadCredentials) || !errors.Is(takenErr, session.ErrBadCredentials) || freeCount != takenCount {
				t.Errorf("login after registering: free address %v (%d counted), taken %v (%d counted); want ErrBadCredentials alike",
					freeErr, freeCount, takenErr, takenCount)
			}
			free := f.mails("verify_email", "free@example.com")
			if len(free) != 1 {
				t.Fatalf("%d verification mails to the free address", len(free))
			}
			if err := f.svc.VerifyEmail(ctx, f.link("verify_email", "free@example.com")); err != nil {
				t.Fatal(err)
			}
			if _, _, err := f.svc.Login(ctx, "free@example.com", attackers, session.Client{}); err != nil {
				t.Errorf("verified: %v", err)
			}
		})
	}
}
