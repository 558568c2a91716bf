package http

import (
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/ratelimit"
	"github.com/authd/authd/internal/session/sessiontest"
)

func withThrottle(d *testDeps) {
	d.Options.LoginFailureThreshold = 5
	d.Options.LoginLockBase = time.Second
	d.Options.LoginLockMax = 15 * time.Minute
}

// TestThrottleNeverSwitchesOff: an email with a long history of failures
// (1,100, the last lock just over) is locked again by the next wrong
// guess, which is an ordinary failed login, not a 500; the right password
// is then refused too. The backoff's exponent used to overflow at about
// 1,029 failures, so every failure was a 500 and nothing was locked.
func TestThrottleNeverSwitchesOff(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withThrottle)
	f.register(nil, "target@example.com")
	now := f.clock.Now()
	_, err := f.pool.Exec(t.Context(), `INSERT INTO login_throttle (email, failures, last_failure_at, locked_until)
		VALUES ('target@example.com', 1100, $1, $2)`, now.Add(-2*time.Second), now.Add(-time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if r := loginAs(f, "target@example.com", "wrong password"); r.status != http.StatusBadRequest || r.str("code") != "invalid_credentials" {
		t.Fatalf("wrong password after 1,100 failures: %d %s", r.status, r.raw)
	}
	r := loginAs(f, "target@example.com", "correct horse")
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("right password after 1,101 failures: %d %s, want 429", r.status, r.raw)
	}
	if got := retryAfter(t, r); got != 900 {
		t.Errorf("Retry-After = %d, want 900 (LOGIN_LOCK_MAX)", got)
	}
}

// TestThrottleFailsClosed: when a failure cannot be recorded, the answer
// is the same failed login as always, never a 500 that tells a wrong guess
// from a right one.
func TestThrottleFailsClosed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withThrottle)
	f.register(nil, "closed@example.com")
	want := loginAs(f, "closed@example.com", "wrong password")
	_, err := f.pool.Exec(t.Context(), `
		CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$;
		CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON login_throttle FOR EACH ROW EXECUTE FUNCTION refuse();`)
	if err != nil {
		t.Fatal(err)
	}
	got := loginAs(f, "closed@example.com", "wrong password")
	if got.status != want.status || got.raw != want.raw {
		t.Errorf("failure not recorded: %d %s, want %d %s", got.status, got.raw, want.status, want.raw)
	}
}

// TestThrottleRemembersLongLocks: with LOGIN_LOCK_MAX of an hour or more,
// the first failure after a maximum lock locks again; it used to count as
// the first failure of a new series.
func TestThrottleRemembersLongLocks(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(d *testDeps) {
		d.Options.LoginFailureThreshold = 2
		d.Options.LoginLockBase = time.Hour
		d.Options.LoginLockMax = 2 * time.Hour
	})
	loginAs(f, "long@example.com", "wrong password")
	loginAs(f, "long@example.com", "wrong password") // locked for 1h
	f.clock.Advance(time.Hour + time.Second)
	loginAs(f, "long@example.com", "wrong password") // locked for 2h, the maximum
	f.clock.Advance(2*time.Hour + time.Second)
	loginAs(f, "long@example.com", "wrong password") // the first failure after it
	f.register(nil, "long@example.com")
	r := loginAs(f, "long@example.com", "correct horse")
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("right password after a failure that followed a maximum lock: %d %s, want 429", r.status, r.raw)
	}
}

// TestConcurrentGuesses: 50 wrong guesses sent at once compare at most
// LOGIN_FAILURE_THRESHOLD passwords before the lock, and 50 more sent the
// moment that lock ends compare one. Every attempt is counted before its
// password is checked; the lock used to be read first and the failure
// written after, so guesses sent together all passed.
func TestConcurrentGuesses(t *testing.T) {
	t.Parallel()
	counter := &sessiontest.Compares{}
	f := newFixture(t, withThrottle, func(d *testDeps) {
		h, err := password.New(password.Options{Cost: 4, Concurrency: 4, Queue: 64, Wait: 5 * time.Second, Compare: counter.Compare})
		if err != nil {
			t.Fatal(err)
		}
		d.Hasher = h
	})
	f.register(nil, "guess@example.com")
	counter.Take()
	burst := func() map[int]int {
		statuses := map[int]int{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				r := loginAs(f, "guess@example.com", "wrong password")
				mu.Lock()
				statuses[r.status]++
				mu.Unlock()
			})
		}
		wg.Wait()
		return statuses
	}
	got := burst()
	if n := len(counter.Take()); n > 5 {
		t.Errorf("50 guesses at once compared %d passwords, want at most 5 (statuses %v)", n, got)
	}
	if got[http.StatusBadRequest]+got[http.StatusTooManyRequests] != 50 {
		t.Errorf("statuses %v, want only 400 and 429", got)
	}
	f.clock.Advance(time.Second) // the first lock (LOGIN_LOCK_BASE) ends
	got = burst()
	if n := len(counter.Take()); n != 1 {
		t.Errorf("50 guesses as the lock ended compared %d passwords, want 1 (statuses %v)", n, got)
	}
}

// TestAddressLimitIPv6Prefix: addresses of one IPv6 /64 share one bucket,
// so a client cannot escape the limit by changing the low bits; another
// /64 has its own. Each address used to get a fresh bucket.
func TestAddressLimitIPv6Prefix(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(d *testDeps) {
		d.LoginLimit = ratelimit.New(1, 2, d.Now)
		d.Options.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	for i := range 2 {
		loginAs(f, "v6@example.com", "password1", "X-Forwarded-For", fmt.Sprintf("2001:db8:1:2::%x", i+1))
	}
	r := loginAs(f, "v6@example.com", "password1", "X-Forwarded-For", "2001:db8:1:2:ffff:ffff:ffff:ffff")
	if r.status != http.StatusTooManyRequests {
		t.Errorf("third login from the same /64: %d, want 429", r.status)
	}
	if r := loginAs(f, "v6@example.com", "password1", "X-Forwarded-For", "2001:db8:1:3::1"); r.status == http.StatusTooManyRequests {
		t.Errorf("first login from another /64: %d", r.status)
	}
}

func TestLimitKey(t *testing.T) {
	tests := []struct {
		addr string
		bits int
		want string
	}{
		{"192.0.2.7", 64, "192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::/48"},
		{"2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6"},
		{"not an address", 64, "not an address"},
	}
	for _, tt := range tests {
		if got := limitKey(tt.addr, tt.bits); got != tt.want {
			t.Errorf("limitKey(%q, %d) = %q, want %q", tt.addr, tt.bits, got, tt.want)
		}
	}
}

// TestTakenEmailCostsNoHash: with every hashing slot taken, a registration
// for an email that already has an account still gets its 409 at once: it
// needs no bcrypt. It used to hash first, and wait, or get 503.
func TestTakenEmailCostsNoHash(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	entered := make(chan struct{})
	var once sync.Once
	f := newFixture(t)
	f.register(nil, "taken@example.com")
	g := newFixtureOn(t, f.pool, func(d *testDeps) {
		h, err := password.New(password.Options{Cost: 4, Concurrency: 1, Queue: 0, Wait: 50 * time.Millisecond,
			Compare: func(hash, pw []byte) error {
				once.Do(func() { close(entered) })
				<-block
				return nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		d.Hasher = h
	})
	done := make(chan reply)
	go func() { done <- loginAs(g, "taken@example.com", "correct horse") }()
	<-entered // the only slot is taken
	r := g.do(nil, "POST", "/api/auth/register", map[string]string{"name": "Again", "email": "Taken@Example.com",
		"password": "password1", "passwordConfirm": "password1", "photo": ""})
	close(block)
	<-done
	if r.status != http.StatusConflict {
		t.Errorf("registration of a taken email with hashing full: %d %s, want 409", r.status, r.raw)
	}
}
