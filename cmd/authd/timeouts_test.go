package main

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/internal/db/dbtest"
)

// TestSlowHeadersCut: a client that never finishes its headers (slowloris)
// is disconnected by ReadHeaderTimeout (5 s), not held forever.
func TestSlowHeadersCut(t *testing.T) {
	bin := buildBinary(t)
	p := start(t, bin, append(keyEnv(t, bin), "DATABASE_URL="+dbtest.URL(t)))
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	_, err = io.ReadAll(conn) // returns when the server closes the connection
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection still open after %v", time.Since(start))
	}
	if d := time.Since(start); d < 4*time.Second {
		t.Errorf("cut after %v, before the 5 s header timeout", d)
	}
}
