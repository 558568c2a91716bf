package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/session"
)

// revokedBy returns the actor, request id and client address of the
// session.revoked events of user.
func (c *cli) revokedBy(user uuid.UUID) [][3]string {
	c.t.Helper()
	rows, err := c.pool.Query(c.t.Context(), `SELECT actor, request_id, client_addr FROM security_events
		WHERE user_id = $1 AND name = 'session.revoked' ORDER BY id`, user)
	if err != nil {
		c.t.Fatal(err)
	}
	defer rows.Close()
	var out [][3]string
	for rows.Next() {
		var r [3]string
		if err := rows.Scan(&r[0], &r[1], &r[2]); err != nil {
			c.t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		c.t.Fatal(err)
	}
	return out
}

// TestOperatorActor: the events an operator's command causes name the
// operator (-as, else AUTHD_OPERATOR, else SUDO_USER) as the actor
// "operator:<name>", and carry the audit line's request id and the SSH
// client's address; the audit line names the same operator. A bad name
// does nothing and audits nothing.
func TestOperatorActor(t *testing.T) {
	t.Parallel()
	c := newCLI(t, func(env map[string]string) { env["SSH_CLIENT"] = "192.0.2.7 51234 22" })
	u, err := c.svc.Admin().Create(t.Context(), session.NewUser{Email: "ada@example.com", Password: "ada's password"})
	if err != nil {
		t.Fatal(err)
	}

	for i, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"-as", "alice"}, "alice"},
		{map[string]string{"AUTHD_OPERATOR": "bob@example.com"}, nil, "bob@example.com"},
		{map[string]string{"AUTHD_OPERATOR": "bob@example.com"}, []string{"-as=alice"}, "alice"},
		{map[string]string{"SUDO_USER": "carol"}, nil, "carol"},
	} {
		for k, v := range tc.env {
			c.env[k] = v
		}
		c.start(u.Email)
		r := c.ok("", append([]string{"user", "revoke-sessions", "ada@example.com"}, tc.args...)...)
		for k := range tc.env {
			delete(c.env, k)
		}
		if r.audit["actor"] != tc.want || r.audit["os_user"] == "" {
			t.Errorf("case %d: audit actor %v (os_user %v), want %q", i, r.audit["actor"], r.audit["os_user"], tc.want)
		}
		got := c.revokedBy(u.ID)
		if len(got) != i+1 {
			t.Fatalf("case %d: %d session.revoked events, want %d", i, len(got), i+1)
		}
		if want := [3]string{"operator:" + tc.want, r.audit["request_id"].(string), "192.0.2.7"}; got[i] != want {
			t.Errorf("case %d: event actor, request id, address %q, want %q", i, got[i], want)
		}
	}

	c.start(u.Email)
	for _, bad := range [][]string{{"-as", "alice smith"}, {"-as", strings.Repeat("a", 65)}} {
		var out, errOut bytes.Buffer
		args := append([]string{"user", "revoke-sessions", "ada@example.com", "-env-file", c.envFile}, bad...)
		err := run(t.Context(), args, lookup(c.env), strings.NewReader(""), &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "operator name") || strings.Contains(errOut.String(), `"audit"`) {
			t.Errorf("%v: %v; stderr %s", bad, err, errOut.String())
		}
	}
	if n := len(c.revokedBy(u.ID)); n != 4 {
		t.Errorf("a bad name still revoked: %d events", n)
	}
}

// TestEventsCommand: authd events prints the log oldest first, for one
// user or all, since a time, a page of the session service at a time up
// to -limit; as JSON lines with -json; audited; mistakes refused.
func TestEventsCommand(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	ctx := t.Context()
	ada, err := c.svc.Admin().Create(ctx, session.NewUser{Email: "ada@example.com", Password: "ada's password"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := c.svc.Admin().Create(ctx, session.NewUser{Email: "bob@example.com", Password: "bob's password"})
	if err != nil {
		t.Fatal(err)
	}
	// 1,500 events of bob's an hour ago: more than one page.
	many := make([]string, 1500)
	for i := range many {
		many[i] = uuid.NewString()
	}
	if err := db.New(c.pool).InsertSecurityEvents(ctx, db.InsertSecurityEventsParams{Now: time.Now().Add(-time.Hour), Name: "session.revoked",
		UserID: uuid.NullUUID{UUID: bob.ID, Valid: true}, SessionIds: many, Actor: "system", Data: `{"reason":"expired"}`, Endpoints: []string{}}); err != nil {
		t.Fatal(err)
	}
	c.start(ada.Email)
	// The events of the set-up itself (registrations, ada's login) are not
	// what this test reads.
	if _, err := c.pool.Exec(ctx, "DELETE FROM security_events WHERE name IN ('user.registered', 'session.created')"); err != nil {
		t.Fatal(err)
	}
	c.ok("", "user", "revoke-sessions", "ada@example.com", "-as", "alice")
	lines := func(r result) []string { return strings.Split(strings.TrimSuffix(r.out, "\n"), "\n") }

	r := c.ok("", "events", "-user", "ADA@example.com", "-as", "alice")
	if l := lines(r); len(l) != 1 || !strings.Contains(l[0], "  session.revoked  user="+ada.ID.String()) ||
		!strings.Contains(l[0], "actor=operator:alice  client=-  {") || !strings.Contains(l[0], `"reason":"revoked_by_admin"`) {
		t.Errorf("events -user ada:\n%s", r.out)
	}
	if r.audit["action"] != "events.list" || r.audit["events"] != 1.0 || r.audit["user"] != "ADA@example.com" {
		t.Errorf("audit: %v", r.audit)
	}

	r = c.ok("", "events", "-limit", "5000")
	l := lines(r)
	if len(l) != 1501 || !strings.Contains(l[0], "user="+bob.ID.String()) || !strings.Contains(l[1500], "user="+ada.ID.String()) {
		t.Errorf("events: %d lines, first %q, last %q", len(l), l[0], l[len(l)-1])
	}
	if r = c.ok("", "events", "-limit", "1200"); len(lines(r)) != 1200 {
		t.Errorf("events -limit 1200: %d lines", len(lines(r)))
	}
	if r = c.ok("", "events", "-since", "30m"); len(lines(r)) != 1 {
		t.Errorf("events -since 30m: %d lines", len(lines(r)))
	}
	if r = c.ok("", "events", "-since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)); r.out != "" {
		t.Errorf("events since an hour from now: %q", r.out)
	}

	r = c.ok("", "events", "-user", bob.ID.String(), "-json", "-limit", "2")
	for _, line := range lines(r) {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil || e["user_id"] != bob.ID.String() || e["event"] != "session.revoked" ||
			e["session_id"] == nil || e["actor"] != "system" || e["details"].(map[string]any)["reason"] != "expired" {
			t.Errorf("events -json line %q: %v", line, err)
		}
	}
	if len(lines(r)) != 2 {
		t.Errorf("events -json -limit 2: %q", r.out)
	}

	c.refused("no user", "", "events", "-user", "nobody@example.com")
	c.refused("-since must be", "", "events", "-since", "yesterday")
	c.refused("-limit must be", "", "events", "-limit", "0")
}

func TestParseSince(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"24h", now.Add(-24 * time.Hour), true},
		{"90m", now.Add(-90 * time.Minute), true},
		{"2026-04-30T08:00:00Z", time.Date(2026, 4, 30, 8, 0, 0, 0, time.UTC), true},
		{"-1h", time.Time{}, false},
		{"2026-04-30", time.Time{}, false},
	} {
		got, err := parseSince(tc.in, now)
		if (err == nil) != tc.ok || !got.Equal(tc.want) {
			t.Errorf("parseSince(%q) = %v, %v", tc.in, got, err)
		}
	}
}
