// Package testenv holds what tests of several packages share: the gate for
// what a test needs from the machine (a tool, root, PostgreSQL), a settable
// clock and a log buffer. Like Go's own internal/testenv it is for tests only.
package testenv

import (
	"bytes"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// Missing stops a test that cannot run here for want of something (a tool,
// root, PostgreSQL): msg says what, and how to get it. On a developer
// machine the test skips; with CI set (non-empty) it fails, since CI must
// never pass by silently not running a test.
func Missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (CI is set, so this is a failure, not a skip)")
	}
	t.Skip(msg)
}

// Need calls Missing(t, msg) unless ok.
func Need(t testing.TB, ok bool, msg string) {
	t.Helper()
	if !ok {
		Missing(t, msg)
	}
}

// Clock is a settable time source, safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock set to the current time, truncated to the second.
func NewClock() *Clock { return &Clock{now: time.Now().Truncate(time.Second)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago,
// for a listener that cannot take port 0 (another process may take it in
// between; authd itself binds PORT=0).
func FreePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// Buffer collects output, such as a log, from concurrent writers.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what has been written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
