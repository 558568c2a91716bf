package session_test

import (
	"errors"
	"testing"
	"time"

	"github.com/authd/authd/internal/session"
)

// TestPasswordFloodLeavesSecondFactor: the second factor has a counter of
// its own, so a flood of wrong passwords that locks the email touches
// neither it nor a ticket already issued (MFA.md's "a password flood
// locking the second factor too").
func TestPasswordFloodLeavesSecondFactor(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *config) {
		c.Options.LoginFailureThreshold = 3
		c.Options.LoginLockBase = time.Minute
		c.Options.LoginLockMax = time.Hour
	})
	u := f.enrol("ada@example.com")
	ticket := f.ticket(u.Email) // the owner's login, under way
	for range 10 {
		f.svc.Login(t.Context(), u.Email, "a wrong password", session.Client{})
	}
	var locked *session.LockedError
	if _, _, err := f.svc.Login(t.Context(), u.Email, testPassword, session.Client{}); !errors.As(err, &locked) {
		t.Fatalf("password after the flood: %v, want *LockedError", err)
	}
	var n int
	if err := f.pool.QueryRow(t.Context(), "SELECT count(*) FROM mfa_throttle WHERE user_id = $1", u.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("the password flood wrote %d mfa_throttle rows, want 0", n)
	}
	if _, _, err := f.svc.LoginMFA(t.Context(), ticket, f.code(u.secret), session.Client{}); err != nil {
		t.Errorf("the owner's second factor after the password flood: %v", err)
	}
}
