package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authd/authd/internal/reqlog"
)

// logLines are the JSON log lines f has written so far.
func logLines(t *testing.T, f *fixture) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(f.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

// linesWith are the lines whose key is value.
func linesWith(lines []map[string]any, key, value string) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		if l[key] == value {
			out = append(out, l)
		}
	}
	return out
}

// TestFailedLoginLogLine: a failed login's line names the event, the
// account (when it exists), the client's address and the request id, and
// nothing the client typed.
func TestFailedLoginLogLine(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(nil, "ada@example.com")
	var userID string
	if err := f.pool.QueryRow(context.Background(), "SELECT id::text FROM users WHERE email = 'ada@example.com'").Scan(&userID); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		email, reason, user string
	}{
		{"ada@example.com", "wrong password", userID},
		{"nobody@example.com", "unknown email", ""},
	}
	for i, tt := range tests {
		id := []string{"login-wrong-1", "login-unknown-2"}[i]
		if r := loginAs(f, tt.email, "not the password", "X-Request-Id", id); r.status != 400 && r.status != 401 {
			t.Fatalf("login %s: %d %s", tt.email, r.status, r.raw)
		}
		got := linesWith(linesWith(logLines(t, f), "event", "login.failed"), "request_id", id)
		if len(got) != 1 {
			t.Fatalf("%s: %d login.failed lines with request id %s, want 1:\n%s", tt.email, len(got), id, f.logs.String())
		}
		l := got[0]
		if l["reason"] != tt.reason || l["client_addr"] != "127.0.0.1" {
			t.Errorf("%s: reason %v, client_addr %v; want %q, 127.0.0.1", tt.email, l["reason"], l["client_addr"], tt.reason)
		}
		if u, _ := l["user_id"].(string); u != tt.user {
			t.Errorf("%s: user_id %q, want %q", tt.email, u, tt.user)
		}
	}
	if s := f.logs.String(); strings.Contains(s, "not the password") || strings.Contains(s, "nobody@example.com") || strings.Contains(s, "ada@example.com") {
		t.Errorf("the log holds a password or an email address:\n%s", s)
	}
}

// TestTraceparent: a valid traceparent's trace id is on every line of the
// request and the header is echoed; a malformed one is ignored.
func TestTraceparent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	r := loginAs(f, "nobody@example.com", "not the password", "Traceparent", tp, "X-Request-Id", "traced-1")
	if got := r.header.Get("Traceparent"); got != tp {
		t.Errorf("traceparent echoed %q, want %q", got, tp)
	}
	lines := linesWith(logLines(t, f), "request_id", "traced-1")
	if len(lines) < 2 { // login.failed and the request line
		t.Fatalf("%d lines of the request, want 2 or more:\n%s", len(lines), f.logs.String())
	}
	for _, l := range lines {
		if l["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Errorf("line %v: trace_id %v", l["msg"], l["trace_id"])
		}
	}

	for _, bad := range []string{
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01", // zero trace id
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", // zero parent id
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", // upper case
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // version ff
		"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  // short
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
		"00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
		"not a traceparent",
	} {
		r := f.do(nil, "GET", "/healthz", nil, "Traceparent", bad, "X-Request-Id", "untraced")
		if got := r.header.Get("Traceparent"); got != "" {
			t.Errorf("%q echoed as %q", bad, got)
		}
	}
	for _, l := range linesWith(logLines(t, f), "request_id", "untraced") {
		if _, ok := l["trace_id"]; ok {
			t.Errorf("a malformed traceparent was logged: %v", l)
		}
	}
}

// TestProbesNotAtInfo: a probe that answers is logged at DEBUG; one that
// fails still at WARN.
func TestProbesNotAtInfo(t *testing.T) {
	t.Parallel()
	var ready error
	f := newFixture(t, func(d *testDeps) { d.Ready = func(context.Context) error { return ready } })
	for _, p := range []string{"/healthz", "/readyz", "/api/healthchecker"} {
		f.do(nil, "GET", p, nil, "X-Request-Id", "probe-ok")
	}
	ready = errors.New("not ready")
	f.do(nil, "GET", "/readyz", nil, "X-Request-Id", "probe-fails")
	f.do(nil, "GET", "/.well-known/jwks.json", nil, "X-Request-Id", "not-a-probe")
	for _, tt := range []struct {
		id, level string
		n         int
	}{
		{"probe-ok", "DEBUG", 3},
		{"probe-fails", "WARN", 1},
		{"not-a-probe", "INFO", 1},
	} {
		got := linesWith(linesWith(logLines(t, f), "msg", "request"), "request_id", tt.id)
		if len(got) != tt.n {
			t.Fatalf("%s: %d request lines, want %d", tt.id, len(got), tt.n)
		}
		for _, l := range got {
			if l["level"] != tt.level {
				t.Errorf("%s %v: level %v, want %s", tt.id, l["route"], l["level"], tt.level)
			}
		}
	}
}

// TestPanicLineHasRequestID: the recoverer, outside the request log, still
// names the request of a panic.
func TestPanicLineHasRequestID(t *testing.T) {
	var logs bytes.Buffer
	log := reqlog.Logger(slog.New(slog.NewJSONHandler(&logs, nil)))
	h := recoverer(log)(logRequests(log, nil, nil)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Request-Id", "panicky")
	h.ServeHTTP(httptest.NewRecorder(), r)
	var line map[string]any
	if err := json.NewDecoder(&logs).Decode(&line); err != nil {
		t.Fatal(err)
	}
	if line["msg"] != "panic" || line["request_id"] != "panicky" || line["client_addr"] != "192.0.2.1" {
		t.Errorf("panic line %v", line)
	}
}
