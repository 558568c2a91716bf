package session_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/session"
)

// TestKnownDeviceLane: while a flood of wrong passwords from unknown
// devices holds the open hashing slot and fills its line, so that another
// unknown device is refused at once, the owner's login from a device
// known for the account is admitted on the reserved slot and succeeds.
// The compares wait at a gate: this checks admission, not speed.
func TestKnownDeviceLane(t *testing.T) {
	t.Parallel()
	var held atomic.Bool
	entered := make(chan string, 16)
	release := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	defer open() // a failing check must not leave compares held
	f := newFixture(t, func(c *config) {
		c.Options.LoginFailureThreshold = 5
		c.Options.LoginLockBase = time.Minute
		c.Options.LoginLockMax = time.Hour
		c.Hasher.Concurrency, c.Hasher.Reserved, c.Hasher.Queue = 2, 1, 2
		c.Hasher.RequestTimeout, c.Hasher.Wait = time.Hour, time.Hour
		c.Hasher.Compare = func(hash, pw []byte) error {
			if held.Load() {
				entered <- string(pw)
				<-release
			}
			return bcrypt.CompareHashAndPassword(hash, pw)
		}
	})
	ada := f.user("ada@example.com")
	first, _, err := f.svc.Login(t.Context(), ada.Email, testPassword, session.Client{})
	if err != nil || first.Device == "" {
		t.Fatalf("first login: %v, device %q", err, first.Device)
	}

	held.Store(true)
	flood := make(chan error, 8)
	for i := range 3 { // one holds the open slot, two wait: the open line is full
		go func() {
			_, _, err := f.svc.Login(t.Context(), fmt.Sprintf("victim%d@example.com", i), "wrong password", session.Client{})
			flood <- err
		}()
		if i == 0 {
			<-entered
		}
	}
	waitFor(t, func() bool { return f.hasher.Refusal(t.Context()) != nil }) // the two are in line
	if _, _, err := f.svc.Login(t.Context(), "one-more@example.com", "wrong password", session.Client{}); !errors.Is(err, password.ErrBusy) {
		t.Errorf("another unknown device: %v, want ErrBusy", err)
	}
	if _, _, err := f.svc.Login(t.Context(), ada.Email, testPassword, session.Client{}); !errors.Is(err, password.ErrBusy) {
		t.Errorf("the owner without the device cookie: %v, want ErrBusy like any unknown device", err)
	}
	owner := make(chan error, 1)
	go func() {
		_, _, err := f.svc.Login(t.Context(), ada.Email, testPassword, session.Client{Device: first.Device})
		owner <- err
	}()
	if pw := <-entered; pw != testPassword {
		t.Fatalf("%q was compared next, want the owner's login on the reserved slot", pw)
	}
	open()
	if err := <-owner; err != nil {
		t.Errorf("the owner's login from a known device during the flood: %v", err)
	}
	for range 3 {
		if err := <-flood; !errors.Is(err, session.ErrBadCredentials) {
			t.Errorf("a flood login: %v, want ErrBadCredentials", err)
		}
	}
}

// waitFor polls cond until it holds, and fails the test if it has not
// within 30 s (a hang, not a measure: it holds at once or never).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the condition never held")
		}
	}
}
