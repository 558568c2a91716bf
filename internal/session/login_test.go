package session_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/session"
	"github.com/authd/authd/internal/session/sessiontest"
)

func TestRegister(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	su, err := f.svc.Register(ctx, session.Registration{Name: "  Ann  ", Email: "ann@example.com", Password: testPassword, PasswordConfirm: testPassword, Photo: "ann.png"})
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	u := su.User
	if u.Name != "Ann" || u.Email != "ann@example.com" || u.Photo != "ann.png" {
		t.Errorf("user = name %q email %q photo %q, want %q %q %q", u.Name, u.Email, u.Photo, "Ann", "ann@example.com", "ann.png")
	}
	if err := bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(testPassword)); err != nil {
		t.Errorf("stored hash does not match the password: %v", err)
	}
	if _, got, err := f.svc.Login(ctx, "ann@example.com", testPassword, session.Client{}); err != nil || got.ID != u.ID {
		t.Errorf("Login after Register = %s, %v; want %s", got.ID, err, u.ID)
	}

	for _, email := range []string{"ann@example.com", "ANN@Example.COM", "  ann@example.com\t"} {
		t.Run(email, func(t *testing.T) {
			_, err := f.svc.Register(ctx, session.Registration{Name: "Other", Email: email, Password: "another password", PasswordConfirm: "another password"})
			if !errors.Is(err, session.ErrEmailTaken) {
				t.Errorf("Register(%q) = %v, want ErrEmailTaken", email, err)
			}
		})
	}
	if got, err := f.q.GetUserByEmail(ctx, "ann@example.com"); err != nil || got.Name != "Ann" {
		t.Errorf("user after the conflicts = %q, %v; want Ann unchanged", got.Name, err)
	}
}

// loginStep is one login attempt and its expected outcome: success, a
// plain ErrBadCredentials, or a lock with exactly this RetryAfter.
type loginStep struct {
	advance time.Duration // clock advance before the attempt
	email   string
	pw      string
	want    error         // nil or session.ErrBadCredentials, unless lock
	lock    time.Duration // > 0: want *LockedError{RetryAfter: lock}
}

func runSteps(t *testing.T, f *fixture, steps []loginStep) {
	t.Helper()
	for i, st := range steps {
		f.clock.Advance(st.advance)
		_, u, err := f.svc.Login(t.Context(), st.email, st.pw, session.Client{})
		var locked *session.LockedError
		switch {
		case st.lock > 0:
			if !errors.As(err, &locked) {
				t.Fatalf("step %d (%q): %v, want locked for %v", i, st.pw, err, st.lock)
			}
			if got := locked.RetryAfter; got != st.lock {
				t.Errorf("step %d: RetryAfter = %v, want %v", i, got, st.lock)
			}
			if errors.Is(err, session.ErrBadCredentials) {
				t.Errorf("step %d: a lock is also ErrBadCredentials", i)
			}
		case st.want == nil:
			if err != nil || u.ID == uuid.Nil {
				t.Fatalf("step %d (%q): %v, want success", i, st.pw, err)
			}
		default:
			if !errors.Is(err, st.want) || errors.As(err, &locked) {
				t.Fatalf("step %d (%q): %v, want %v", i, st.pw, err, st.want)
			}
		}
	}
}

func throttled(c *config) {
	c.Options.LoginFailureThreshold = 3
	c.Options.LoginLockBase = 2 * time.Second
	c.Options.LoginLockMax = time.Minute
}

// TestThrottle: three failures lock the email for the base time, right
// password or wrong; each failure after a lock doubles it; a success after
// the lock clears the count.
func TestThrottle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, throttled)
	const email, wrong = "victim@example.com", "wrong password"
	f.user(email)
	f.user("bystander@example.com")
	bad := session.ErrBadCredentials
	runSteps(t, f, []loginStep{
		{email: email, pw: wrong, want: bad},
		{email: "  Victim@Example.COM", pw: wrong, want: bad}, // the same email
		{email: email, pw: wrong, want: bad},                  // third: locks for 2s
		{advance: 500 * time.Millisecond, email: email, pw: testPassword, lock: 1500 * time.Millisecond},
		{email: email, pw: wrong, lock: 1500 * time.Millisecond},               // not counted
		{email: "bystander@example.com", pw: testPassword},                     // another email is untouched
		{advance: 1500 * time.Millisecond, email: email, pw: wrong, want: bad}, // the lock has ended: locks for 4s
		{email: email, pw: testPassword, lock: 4 * time.Second},
		{advance: 4 * time.Second, email: email, pw: testPassword}, // clears the count
		{email: email, pw: wrong, want: bad},
		{email: email, pw: wrong, want: bad}, // two failures since the success: no lock
		{email: email, pw: wrong, want: bad}, // the third locks again, for the base
		{email: email, pw: testPassword, lock: 2 * time.Second},
	})
}

// TestThrottleUnknownEmail: an email without an account is locked the same
// way, up to the maximum.
func TestThrottleUnknownEmail(t *testing.T) {
	t.Parallel()
	f := newFixture(t, throttled)
	const email = "nobody@example.com"
	bad := session.ErrBadCredentials
	steps := []loginStep{
		{email: email, pw: "wrong password", want: bad},
		{email: email, pw: testPassword, want: bad},
		{email: email, pw: "wrong password", want: bad},
		{email: email, pw: testPassword, lock: 2 * time.Second},
	}
	lock := 2 * time.Second
	for _, want := range []time.Duration{4, 8, 16, 32, 60, 60} {
		want *= time.Second
		steps = append(steps,
			loginStep{advance: lock, email: email, pw: testPassword, want: bad},
			loginStep{email: email, pw: "wrong password", lock: want})
		lock = want
	}
	runSteps(t, f, steps)
}

// TestThrottleOff: with threshold 0 nothing is ever locked or recorded.
func TestThrottleOff(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *config) {
		throttled(c)
		c.Options.LoginFailureThreshold = 0
	})
	const email = "free@example.com"
	f.user(email)
	var steps []loginStep
	for range 10 {
		steps = append(steps, loginStep{email: email, pw: "wrong password", want: session.ErrBadCredentials})
	}
	steps = append(steps, loginStep{email: email, pw: testPassword})
	runSteps(t, f, steps)
	if _, err := f.q.GetLoginThrottle(t.Context(), email); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("login_throttle row with the throttle off: %v, want none", err)
	}
}

// oneSlot is a hasher of one slot and no queue whose compares wait until
// block is closed; entered is closed when the first compare starts.
type oneSlot struct {
	block, entered chan struct{}
	once           sync.Once
}

func newOneSlot() *oneSlot {
	return &oneSlot{block: make(chan struct{}), entered: make(chan struct{})}
}

func (g *oneSlot) options() password.Options {
	return password.Options{Cost: 4, Concurrency: 1, Queue: 0, Wait: 5 * time.Second,
		Compare: func(hash, pw []byte) error {
			g.once.Do(func() { close(g.entered) })
			<-g.block
			return bcrypt.CompareHashAndPassword(hash, pw)
		}}
}

// TestLoginBusy: with every hashing slot and the queue taken, Login fails
// with password.ErrBusy without a single statement.
func TestLoginBusy(t *testing.T) {
	t.Parallel()
	g := newOneSlot()
	f := newFixture(t, func(c *config) {
		c.Hasher = g.options()
		throttled(c) // so that a login that got further would touch login_throttle
	})
	block, entered := g.block, g.entered
	const email = "busy@example.com"
	f.user(email)

	type result struct{ err error }
	done := make(chan result, 1)
	go func() {
		_, _, err := f.svc.Login(t.Context(), email, testPassword, session.Client{})
		done <- result{err}
	}()
	released := false
	release := func() {
		if !released {
			released = true
			close(block)
		}
	}
	defer release()
	<-entered // the only slot is taken

	for _, tt := range []struct{ name, email, pw string }{
		{"right password", email, testPassword},
		{"wrong password", email, "wrong password"},
		{"unknown email", "nobody@example.com", testPassword},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := f.stmts.calls.Load()
			_, _, err := f.svc.Login(t.Context(), tt.email, tt.pw, session.Client{})
			if !errors.Is(err, password.ErrBusy) {
				t.Errorf("Login with hashing full = %v, want password.ErrBusy", err)
			}
			if got := f.stmts.calls.Load() - before; got != 0 {
				t.Errorf("statements sent = %d, want 0", got)
			}
		})
	}
	release()
	if r := <-done; r.err != nil {
		t.Errorf("the login holding the slot: %v", r.err)
	}
}

// TestLoginBusyNotCounted: logins that pass the look at the hashing queue
// together, are counted, and are then refused a slot (password.ErrBusy)
// compared no password: their attempts are taken back, so a burst of busy
// answers never leaves an account locked. (While they are in flight the
// others may see the count they hold and be told the email is locked.)
func TestLoginBusyNotCounted(t *testing.T) {
	t.Parallel()
	g := newOneSlot()
	f := newFixture(t, func(c *config) {
		c.Hasher = g.options()
		throttled(c) // three counted attempts lock the email
	})
	block, entered := g.block, g.entered
	const email, n = "burst@example.com", 10
	f.user(email)

	start := make(chan struct{})
	errs := make(chan error, n)
	for range n {
		go func() {
			<-start
			_, _, err := f.svc.Login(t.Context(), email, testPassword, session.Client{})
			errs <- err
		}()
	}
	close(start)
	<-entered // one holds the only slot
	busy := 0
	for range n - 1 {
		var locked *session.LockedError
		switch err := <-errs; {
		case errors.Is(err, password.ErrBusy):
			busy++
		case errors.As(err, &locked):
		default:
			t.Errorf("a login beside the one hashing = %v, want password.ErrBusy or locked", err)
		}
	}
	if busy == 0 {
		t.Fatal("no login was refused a hashing slot: the test did not race")
	}
	row, err := f.q.GetLoginThrottle(t.Context(), email)
	if err != nil {
		t.Fatalf("login_throttle: %v", err)
	}
	if row.Failures != 1 || row.LockedUntil != nil {
		t.Errorf("after %d busy answers: %d attempts counted, locked until %v; want 1 (the login hashing), no lock",
			busy, row.Failures, row.LockedUntil)
	}
	close(block)
	if err := <-errs; err != nil {
		t.Errorf("the login holding the slot: %v", err)
	}
	if _, _, err := f.svc.Login(t.Context(), email, testPassword, session.Client{}); err != nil {
		t.Errorf("the next login: %v, want success", err)
	}
}

// TestLoginWorkIsUniform: an unknown email, a wrong password and an
// over-long password each cost exactly one compare at the configured cost.
func TestLoginWorkIsUniform(t *testing.T) {
	t.Parallel()
	counter := &sessiontest.Compares{}
	f := newFixture(t, func(c *config) { c.Hasher.Compare = counter.Compare })
	f.user("work@example.com")
	counter.Take()
	tests := []struct {
		name  string
		email string
		pw    string
		want  error
	}{
		{"unknown email", "nobody@example.com", testPassword, session.ErrBadCredentials},
		{"wrong password", "work@example.com", "wrong horse", session.ErrBadCredentials},
		{"73-byte password", "work@example.com", testPassword + strings.Repeat("x", 73-len(testPassword)), session.ErrBadCredentials},
		{"right password", "work@example.com", testPassword, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := f.svc.Login(t.Context(), tt.email, tt.pw, session.Client{})
			if !errors.Is(err, tt.want) {
				t.Errorf("Login = %v, want %v", err, tt.want)
			}
			if got := counter.Take(); len(got) != 1 || got[0] != 4 {
				t.Errorf("compares = %v, want one at cost 4", got)
			}
		})
	}
}
