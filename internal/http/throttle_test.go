package http

import (
	"net/http"
	"testing"
	"time"
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
