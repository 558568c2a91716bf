package http

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/ratelimit"
	"github.com/authd/authd/internal/session/sessiontest"
)

func loginAs(f *fixture, email, pw string, hdr ...string) reply {
	f.t.Helper()
	return f.do(nil, "POST", "/api/auth/login", map[string]string{"email": email, "password": pw}, hdr...)
}

func retryAfter(t *testing.T, r reply) int {
	t.Helper()
	n, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || n < 1 {
		t.Fatalf("Retry-After = %q", r.header.Get("Retry-After"))
	}
	return n
}

// TestAccountThrottle: failures from several addresses lock one account;
// the lock refuses right and wrong passwords alike, is bounded, and a
// success resets the count.
func TestAccountThrottle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(d *testDeps) {
		d.Options.LoginFailureThreshold = 3
		d.Options.LoginLockBase = 2 * time.Second
		d.Options.LoginLockMax = time.Minute
		d.Options.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	f.register(nil, "victim@example.com")
	for i := range 3 {
		r := loginAs(f, "victim@example.com", "wrong password", "X-Forwarded-For", "198.51.100."+strconv.Itoa(i+1))
		if r.status != http.StatusBadRequest {
			t.Fatalf("failure %d: %d %s", i+1, r.status, r.raw)
		}
	}
	for _, pw := range []string{"correct horse", "wrong password"} {
		r := loginAs(f, "victim@example.com", pw, "X-Forwarded-For", "203.0.113.50")
		if r.status != http.StatusTooManyRequests || r.str("status") != "fail" {
			t.Fatalf("locked account, password %q: %d %s", pw, r.status, r.raw)
		}
		if got := retryAfter(t, r); got != 2 {
			t.Errorf("Retry-After = %d, want 2", got)
		}
	}
	// Another account is untouched.
	f.register(nil, "other@example.com")
	if r := loginAs(f, "other@example.com", "correct horse"); r.status != http.StatusOK {
		t.Errorf("other account: %d", r.status)
	}
	// Each further failure doubles the lock, up to the maximum.
	wantLocks := []int{4, 8, 16, 32, 60, 60}
	for i, want := range wantLocks {
		f.clock.Advance(time.Minute + time.Second)
		if r := loginAs(f, "victim@example.com", "wrong password"); r.status != http.StatusBadRequest {
			t.Fatalf("failure after lock %d: %d", i, r.status)
		}
		r := loginAs(f, "victim@example.com", "correct horse")
		if r.status != http.StatusTooManyRequests {
			t.Fatalf("lock %d: %d", i, r.status)
		}
		if got := retryAfter(t, r); got != want {
			t.Errorf("lock %d: Retry-After = %d, want %d", i, got, want)
		}
	}
	// After the lock, the right password works and resets the count.
	f.clock.Advance(time.Minute + time.Second)
	if r := loginAs(f, "victim@example.com", "correct horse"); r.status != http.StatusOK {
		t.Fatalf("after the lock: %d %s", r.status, r.raw)
	}
	var n int
	if err := f.pool.QueryRow(t.Context(), "SELECT count(*) FROM login_throttle WHERE email = 'victim@example.com'").Scan(&n); err != nil || n != 0 {
		t.Errorf("failures not reset: %d rows, %v", n, err)
	}
}

// TestUnknownEmailThrottled: unknown emails lock the same way, so the lock
// does not reveal which accounts exist.
func TestUnknownEmailThrottled(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(d *testDeps) {
		d.Options.LoginFailureThreshold = 2
		d.Options.LoginLockBase = time.Second
		d.Options.LoginLockMax = time.Minute
	})
	for range 2 {
		loginAs(f, "ghost@example.com", "whatever1")
	}
	if r := loginAs(f, "ghost@example.com", "whatever1"); r.status != http.StatusTooManyRequests {
		t.Errorf("unknown email after failures: %d", r.status)
	}
}

// TestAddressLimit: the per-address burst holds, and a spoofed
// X-Forwarded-For does not escape it unless the peer is a trusted proxy.
func TestAddressLimit(t *testing.T) {
	t.Parallel()
	newLimited := func(trusted []netip.Prefix) *fixture {
		return newFixture(t, func(d *testDeps) {
			d.LoginLimit = ratelimit.New(1, 2, d.Now)
			d.Options.TrustedProxies = trusted
		})
	}
	f := newLimited(nil)
	for i := range 2 {
		loginAs(f, "x@example.com", "password1", "X-Forwarded-For", "192.0.2."+strconv.Itoa(i))
	}
	r := loginAs(f, "x@example.com", "password1", "X-Forwarded-For", "192.0.2.99")
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("spoofed X-Forwarded-For escaped the limit: %d", r.status)
	}
	if got := retryAfter(t, r); got < 1 || got > 60 {
		t.Errorf("Retry-After = %d", got)
	}
	// Behind a trusted proxy, each client has its own bucket.
	g := newLimited([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
	for i := range 4 {
		if r := loginAs(g, "x@example.com", "password1", "X-Forwarded-For", "192.0.2."+strconv.Itoa(i)); r.status == http.StatusTooManyRequests {
			t.Errorf("client %d behind a trusted proxy throttled", i)
		}
	}
}

// TestLoginWorkIsUniform: an unknown email, a wrong password and an
// over-long password each cost exactly one compare at the current cost.
func TestLoginWorkIsUniform(t *testing.T) {
	t.Parallel()
	counter := &sessiontest.Compares{}
	f := newFixture(t, func(d *testDeps) {
		h, err := password.New(password.Options{Cost: 5, Wait: 2 * time.Second, Concurrency: 2, Compare: counter.Compare})
		if err != nil {
			t.Fatal(err)
		}
		d.Hasher = h
	})
	f.register(nil, "work@example.com")
	counter.Take()
	tests := []struct {
		name  string
		email string
		pw    string
	}{
		{"unknown email", "nobody@example.com", "correct horse"},
		{"wrong password", "work@example.com", "wrong horse"},
		{"73-byte password", "work@example.com", "correct horse" + strings.Repeat("x", 60)},
		{"right password", "work@example.com", "correct horse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loginAs(f, tt.email, tt.pw)
			got := counter.Take()
			if len(got) != 1 || got[0] != 5 {
				t.Errorf("compares = %v, want one at cost 5", got)
			}
		})
	}
}

// TestRehashOnLogin: a hash of an older cost is upgraded after a success.
func TestRehashOnLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	old, _ := bcrypt.GenerateFromPassword([]byte("correct horse"), 4)
	u, err := f.q.CreateUser(t.Context(), db.CreateUserParams{Name: "Old", Email: "old@example.com", PasswordHash: string(old), Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	f2 := newFixtureOn(t, f.pool, func(d *testDeps) {
		h, _ := password.New(password.Options{Cost: 5, Wait: 2 * time.Second, Concurrency: 2})
		d.Hasher = h
	})
	if r := loginAs(f2, "old@example.com", "correct horse"); r.status != http.StatusOK {
		t.Fatalf("login: %d %s", r.status, r.raw)
	}
	// The upgrade runs after the answer is sent: poll for it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _ := f.q.GetUserByID(t.Context(), u.ID)
		c, _ := bcrypt.Cost([]byte(got.PasswordHash))
		if c == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cost after login = %d, want 5", c)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r := loginAs(f2, "old@example.com", "correct horse"); r.status != http.StatusOK {
		t.Errorf("login with the upgraded hash: %d", r.status)
	}
}

// TestHashingBusy: with the hashing slots and queue full, login answers 503
// with Retry-After at once, while health and /me are unaffected.
func TestHashingBusy(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	var once sync.Once
	entered := make(chan struct{})
	f := newFixture(t)
	access, _ := f.loginTokens("busy@example.com")
	g := newFixtureOn(t, f.pool, func(d *testDeps) {
		h, err := password.New(password.Options{Cost: 4, Concurrency: 1, Queue: 0, Wait: 50 * time.Millisecond,
			Compare: func(hash, pw []byte) error {
				once.Do(func() { close(entered) })
				<-block
				return bcrypt.CompareHashAndPassword(hash, pw)
			}})
		if err != nil {
			t.Fatal(err)
		}
		d.Hasher = h
	})
	done := make(chan reply)
	go func() { done <- loginAs(g, "busy@example.com", "correct horse") }()
	<-entered // the only slot is taken
	r := loginAs(g, "busy@example.com", "correct horse")
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Errorf("login with hashing full: %d %v %s", r.status, r.header.Get("Retry-After"), r.raw)
	}
	if got := g.do(nil, "GET", "/healthz", nil); got.status != http.StatusOK {
		t.Errorf("healthz while hashing is full: %d", got.status)
	}
	if got := g.meStatus(access); got != http.StatusOK {
		t.Errorf("me while hashing is full: %d", got)
	}
	close(block)
	if r := <-done; r.status != http.StatusOK {
		t.Errorf("the login holding the slot: %d", r.status)
	}
}

// TestDatabaseDown: with PostgreSQL stopped, answers are 503 with
// Retry-After, quickly (never held by the pacer, which holds only 429 and
// busy 503), never "invalid credentials", nothing is counted; when it
// returns, service resumes without a restart.
func TestDatabaseDown(t *testing.T) {
	t.Parallel()
	srv := dbtest.NewCluster(t)
	pool, err := db.Connect(t.Context(), srv.URL(t), db.PoolOptions{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	f := newFixtureOn(t, pool, func(d *testDeps) {
		d.Options.DBTimeout = time.Second
		d.Options.LoginFailureThreshold = 1
		d.Options.LoginLockBase = time.Minute
		d.Options.LoginLockMax = time.Hour
		d.Ready = func(ctx context.Context) error { _, _, err := db.SchemaVersion(ctx, pool); return err }
		d.Options.RefusalDelay = time.Minute
	})
	f, paced := watchPace(f)
	access, _ := f.loginTokens("down@example.com")
	srv.Stop(t)

	reqs := []struct {
		name string
		do   func() reply
	}{
		{"login", func() reply { return loginAs(f, "down@example.com", "wrong password") }},
		{"register", func() reply {
			return f.do(nil, "POST", "/api/auth/register", map[string]string{"name": "n", "email": "new@example.com", "password": "password1", "passwordConfirm": "password1", "photo": ""})
		}},
		{"me", func() reply { return f.do(nil, "GET", "/api/users/me", nil, "Authorization", "Bearer "+access) }},
		{"readyz", func() reply { return f.do(nil, "GET", "/readyz", nil) }},
	}
	for _, rq := range reqs {
		start := time.Now()
		r := rq.do()
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
			t.Errorf("%s with the database down: %d %s", rq.name, r.status, r.raw)
		}
		if r.str("message") == errBadCredentials.message {
			t.Errorf("%s: database outage reported as bad credentials", rq.name)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s took %v", rq.name, d)
		}
		if holds := paced.take(); len(holds) != 0 {
			t.Errorf("%s with the database down: pace asked to hold %v, want the 503 at once", rq.name, holds)
		}
	}
	if r := f.do(nil, "GET", "/healthz", nil); r.status != http.StatusOK {
		t.Errorf("liveness with the database down: %d", r.status)
	}

	srv.Start(t)
	deadline := time.Now().Add(30 * time.Second)
	for f.do(nil, "GET", "/readyz", nil).status != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("not ready 30s after the database came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The wrong password during the outage was not counted (threshold 1
	// would have locked the account).
	if r := loginAs(f, "down@example.com", "correct horse"); r.status != http.StatusOK {
		t.Errorf("login after recovery: %d %s", r.status, r.raw)
	}
	if got := f.meStatus(access); got != http.StatusOK {
		t.Errorf("me after recovery: %d", got)
	}
}

// TestTableLocked: a lock held longer than the database timeout gives 503
// in time, not a hang.
func TestTableLocked(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(d *testDeps) { d.Options.DBTimeout = 300 * time.Millisecond })
	access, _ := f.loginTokens("locked@example.com")
	tx, err := f.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(t.Context(), "LOCK TABLE users IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	for name, do := range map[string]func() reply{
		"login": func() reply { return loginAs(f, "locked@example.com", "correct horse") },
		"me":    func() reply { return f.do(nil, "GET", "/api/users/me", nil, "Authorization", "Bearer "+access) },
	} {
		start := time.Now()
		r := do()
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
			t.Errorf("%s with users locked: %d %s", name, r.status, r.raw)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s took %v with a 300ms database timeout", name, d)
		}
	}
	tx.Rollback(t.Context())
	if got := f.meStatus(access); got != http.StatusOK {
		t.Errorf("me after the lock: %d", got)
	}
}

// TestLoginWorkIsUniformAcrossCosts: after BCRYPT_COST was raised, an
// account still hashed at the older cost costs the same bcrypt work as an
// unknown email (one compare at the current cost) whether its password is
// right or wrong; the work is summed as 2^cost per compare. It used to be
// one compare at the stored cost: half the time, telling the account apart.
func TestLoginWorkIsUniformAcrossCosts(t *testing.T) {
	t.Parallel()
	counter := &sessiontest.Compares{}
	f := newFixture(t, func(d *testDeps) {
		h, err := password.New(password.Options{Cost: 6, Wait: 2 * time.Second, Concurrency: 2, Compare: counter.Compare})
		if err != nil {
			t.Fatal(err)
		}
		d.Hasher = h
	})
	for _, u := range []struct {
		email string
		cost  int
	}{{"old4@example.com", 4}, {"old5@example.com", 5}, {"now6@example.com", 6}} {
		hash, _ := bcrypt.GenerateFromPassword([]byte("correct horse"), u.cost)
		if _, err := f.q.CreateUser(t.Context(), db.CreateUserParams{Name: "n", Email: u.email, PasswordHash: string(hash), Now: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	work := func(costs []int) (w int) {
		for _, c := range costs {
			w += 1 << c
		}
		return w
	}
	counter.Take()
	tests := []struct{ name, email, pw string }{
		{"unknown email", "nobody@example.com", "correct horse"},
		{"cost 4, wrong password", "old4@example.com", "wrong horse"},
		{"cost 5, wrong password", "old5@example.com", "wrong horse"},
		{"cost 6, wrong password", "now6@example.com", "wrong horse"},
		{"cost 4, right password", "old4@example.com", "correct horse"},
	}
	for _, tt := range tests {
		loginAs(f, tt.email, tt.pw)
		got := counter.Take()
		// A right password at an older cost is rehashed after the answer:
		// count only the compares.
		if w := work(got); w != 1<<6 {
			t.Errorf("%s: compares at costs %v, work %d, want %d (one compare at cost 6)", tt.name, got, w, 1<<6)
		}
	}
}
