package session

import (
	"log/slog"
	"testing"
	"time"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/db/dbtest"
)

// TestDeviceNotRecordedAfterPasswordChange holds one side of the race
// between a login and a reset: the login's session is made with the old
// password hash, then the reset commits (it ends the sessions and forgets
// the devices), then the login records its device. That device must not
// become known: it would outlive the reset that was meant to end it.
func TestDeviceNotRecordedAfterPasswordChange(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	s := New(Deps{DB: pool, DBTimeout: 5 * time.Second, Log: slog.New(slog.DiscardHandler)}, Options{})
	q := db.New(pool)
	now := time.Now()
	stale, err := q.CreateUser(t.Context(), db.CreateUserParams{Name: "Ada", Email: "ada@example.com", PasswordHash: "old hash", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	// The reset commits between the login's session and its device.
	if err := q.SetUserPassword(t.Context(), db.SetUserPasswordParams{ID: stale.ID, PasswordHash: "new hash", Now: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.deviceLogin(t.Context(), stale, Client{}); err != nil {
		t.Fatal(err)
	}
	if n, err := q.CountKnownDevices(t.Context(), stale.ID); err != nil || n != 0 {
		t.Errorf("known devices after a login that a reset overtook: %d, %v; want 0", n, err)
	}
	// The login of the new password records its device.
	fresh, err := q.GetUserByID(t.Context(), stale.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.deviceLogin(t.Context(), fresh, Client{}); err != nil {
		t.Fatal(err)
	}
	if n, err := q.CountKnownDevices(t.Context(), stale.ID); err != nil || n != 1 {
		t.Errorf("known devices after a login with the current password: %d, %v; want 1", n, err)
	}
}
