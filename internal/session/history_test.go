package session_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/reqlog"
	"github.com/authd/authd/internal/session"
	"github.com/authd/authd/internal/testenv"
)

// insertEvents writes one event of name for user per session in
// sessions (none: one without), at the fixture's clock, as record writes
// them.
func (f *fixture) insertEvents(name string, user uuid.UUID, rl reqlog.Request, data string, sessions ...uuid.UUID) {
	f.t.Helper()
	ids := []string{""}
	if len(sessions) > 0 {
		ids = make([]string, len(sessions))
		for i, id := range sessions {
			ids[i] = id.String()
		}
	}
	if data == "" {
		data = "{}"
	}
	err := f.q.InsertSecurityEvents(f.t.Context(), db.InsertSecurityEventsParams{
		Now: f.clock.Now(), Name: name, UserID: uuid.NullUUID{UUID: user, Valid: user != uuid.Nil}, SessionIds: ids,
		Actor: rl.Actor, RequestID: rl.ID, ClientAddr: rl.Client, UserAgent: rl.UserAgent, Data: data, Endpoints: []string{},
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

// forgetEvents deletes every event so far (a fixture's registrations').
func (f *fixture) forgetEvents() {
	f.t.Helper()
	if _, err := f.pool.Exec(f.t.Context(), "DELETE FROM security_events"); err != nil {
		f.t.Fatal(err)
	}
}

const firefoxLinux = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

// TestSecurityEvents: a user reads their own events, newest first, a page
// at a time by id, with a device summary; never another user's; an
// operator's action shows as "operator", without the operator's name,
// address or request id.
func TestSecurityEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	ada, bob := f.user("ada@example.com"), f.user("bob@example.com")
	client := reqlog.Request{ID: "req-ada", Client: "192.0.2.1", UserAgent: firefoxLinux, Actor: session.ActorClient}

	// A real revocation, recorded by the domain in a request's context.
	toks := f.start(ada.ID)
	if err := f.svc.Logout(reqlog.With(ctx, client), toks.Access, "", session.ScopeCurrent); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		f.insertEvents("login.failed", ada.ID, client, `{"reason":"wrong_password"}`)
	}
	f.insertEvents("login.failed", bob.ID, reqlog.Request{ID: "req-bob", Client: "198.51.100.9", Actor: session.ActorClient}, "")
	f.insertEvents("session.revoked", ada.ID, reqlog.Request{ID: "audit-1", Client: "203.0.113.5", Actor: "operator:alice"},
		`{"reason":"revoked_by_admin"}`, uuid.New())

	var all []session.Event
	before := int64(0)
	for page := 0; ; page++ {
		got, err := f.svc.SecurityEvents(ctx, ada.ID, before, 4)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, got...)
		if len(got) < 4 {
			break
		}
		before = got[len(got)-1].ID
		if page > 3 {
			t.Fatal("the pages never end")
		}
	}
	// 6, and the user.registered and session.created of ada's own.
	if len(all) != 8 {
		t.Fatalf("%d events of ada, want 8: %+v", len(all), all)
	}
	for i, e := range all {
		if e.UserID != ada.ID {
			t.Errorf("event %d is of user %s, not ada's", e.ID, e.UserID)
		}
		if i > 0 && e.ID >= all[i-1].ID {
			t.Errorf("event %d after %d: not newest first", e.ID, all[i-1].ID)
		}
	}
	op := all[0]
	if op.Name != "session.revoked" || op.Actor != session.ActorOperator || op.ClientAddr != "" || op.RequestID != "" ||
		op.Device != "" || op.Data["reason"] != "revoked_by_admin" || op.SessionID == uuid.Nil {
		t.Errorf("the operator's event as ada sees it: %+v", op)
	}
	failed := all[1]
	if failed.Name != "login.failed" || failed.Actor != session.ActorClient || failed.ClientAddr != "192.0.2.1" ||
		failed.Device != "Firefox on Linux" || failed.Data["reason"] != "wrong_password" || failed.SessionID != uuid.Nil {
		t.Errorf("a failed login: %+v", failed)
	}
	revoked := all[5]
	if revoked.Name != "session.revoked" || revoked.SessionID != f.sid(toks.Refresh) || revoked.Data["reason"] != "logout_current" ||
		revoked.ClientAddr != "192.0.2.1" || revoked.Device != "Firefox on Linux" || !revoked.Time.Equal(f.clock.Now()) {
		t.Errorf("the logout: %+v", revoked)
	}

	for _, tc := range []struct {
		before int64
		limit  int
	}{{0, 0}, {0, session.MaxEvents + 1}, {-1, 10}} {
		var inv *session.InvalidError
		if _, err := f.svc.SecurityEvents(ctx, ada.ID, tc.before, tc.limit); !errors.As(err, &inv) {
			t.Errorf("before %d, limit %d: %v, want an InvalidError", tc.before, tc.limit, err)
		}
	}
}

// TestAdminEvents: the operator reads every user's events or one user's
// (by address, or by id once the user is gone), oldest first, since a
// time and after an id, with the operator's own names; an unknown address
// is ErrNoUser.
func TestAdminEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	ada, bob := f.user("ada@example.com"), f.user("bob@example.com")
	f.forgetEvents() // their registrations'
	t0 := f.clock.Now()
	f.insertEvents("login.failed", ada.ID, reqlog.Request{Client: "192.0.2.1"}, "")
	f.clock.Advance(time.Hour)
	f.insertEvents("login.failed", bob.ID, reqlog.Request{Client: "192.0.2.2"}, "")
	f.insertEvents("session.revoked", ada.ID, reqlog.Request{ID: "audit-1", Client: "203.0.113.5", Actor: "operator:alice"}, "", uuid.New(), uuid.New())
	admin := f.svc.Admin()

	names := func(es []session.Event) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Name+"/"+e.Actor)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    session.EventFilter
		want int
		user uuid.UUID // uuid.Nil: any
	}{
		{"all", session.EventFilter{Since: t0, Limit: 10}, 4, uuid.Nil},
		{"since", session.EventFilter{Since: t0.Add(time.Minute), Limit: 10}, 3, uuid.Nil},
		{"ada by address", session.EventFilter{Email: "ADA@example.com", Since: t0, Limit: 10}, 3, ada.ID},
		{"bob by id", session.EventFilter{UserID: bob.ID, Since: t0, Limit: 10}, 1, bob.ID},
		{"limit", session.EventFilter{Since: t0, Limit: 2}, 2, uuid.Nil},
	} {
		got, err := admin.Events(ctx, tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(got) != tc.want {
			t.Errorf("%s: %v, want %d events", tc.name, names(got), tc.want)
		}
		for i, e := range got {
			if tc.user != uuid.Nil && e.UserID != tc.user {
				t.Errorf("%s: event of %s", tc.name, e.UserID)
			}
			if i > 0 && e.ID <= got[i-1].ID {
				t.Errorf("%s: not oldest first", tc.name)
			}
		}
	}
	all, err := admin.Events(ctx, session.EventFilter{Since: t0, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if last := all[3]; last.Actor != "operator:alice" || last.ClientAddr != "203.0.113.5" || last.RequestID != "audit-1" {
		t.Errorf("the operator's event as the operator sees it: %+v", last)
	}
	rest, err := admin.Events(ctx, session.EventFilter{Since: t0, After: all[1].ID, Limit: 10})
	if err != nil || len(rest) != 2 || rest[0].ID != all[2].ID {
		t.Errorf("after %d: %v, %v", all[1].ID, names(rest), err)
	}
	if _, err := admin.Events(ctx, session.EventFilter{Email: "nobody@example.com", Limit: 10}); !errors.Is(err, session.ErrNoUser) {
		t.Errorf("unknown address: %v, want ErrNoUser", err)
	}
	var inv *session.InvalidError
	if _, err := admin.Events(ctx, session.EventFilter{Limit: session.MaxEventsListed + 1}); !errors.As(err, &inv) {
		t.Errorf("limit too high: %v", err)
	}
}

// TestPurgeEvents: events older than EventRetention go, in batches (more
// than one here), their webhook deliveries with them; younger ones stay.
// With no retention set, 90 days.
func TestPurgeEvents(t *testing.T) {
	t.Parallel()
	clk := testenv.NewClock()
	t0 := clk.Now()
	f := newFixture(t, func(c *config) { c.Clock = clk; c.Options.EventRetention = 2 * time.Hour })
	def := newFixture(t, func(c *config) { c.Clock = clk; c.Pool = f.pool })
	ctx := t.Context()
	ada := f.user("ada@example.com")
	f.forgetEvents() // the registration's

	many := make([]uuid.UUID, 2500) // two and a half batches
	for i := range many {
		many[i] = uuid.New()
	}
	f.insertEvents("session.revoked", ada.ID, reqlog.Request{}, "", many...)
	if err := f.q.InsertSecurityEvents(ctx, db.InsertSecurityEventsParams{Now: t0, Name: "login.failed", SessionIds: []string{""},
		Actor: "client", Data: "{}", Endpoints: []string{"siem"}}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	f.insertEvents("login.failed", ada.ID, reqlog.Request{}, "")

	count := func(table string) int {
		t.Helper()
		var n int
		if err := f.pool.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, p := range []struct {
		at               time.Duration
		events, webhooks int
	}{
		{2 * time.Hour, 2502, 1},
		{2*time.Hour + time.Second, 1, 0},
		{3 * time.Hour, 1, 0},
		{3*time.Hour + time.Second, 0, 0},
	} {
		clk.Advance(t0.Add(p.at).Sub(clk.Now()))
		f.svc.Purge(ctx)
		if got, wh := count("security_events"), count("webhook_deliveries"); got != p.events || wh != p.webhooks {
			t.Errorf("Purge at %v: %d events, %d deliveries; want %d, %d", p.at, got, wh, p.events, p.webhooks)
		}
	}

	f.insertEvents("login.failed", ada.ID, reqlog.Request{}, "")
	at := clk.Now()
	for _, p := range []struct {
		after time.Duration
		want  int
	}{{session.DefaultEventRetention, 1}, {session.DefaultEventRetention + time.Second, 0}} {
		clk.Advance(at.Add(p.after).Sub(clk.Now()))
		def.svc.Purge(ctx)
		if got := count("security_events"); got != p.want {
			t.Errorf("default retention, %v later: %d events, want %d", p.after, got, p.want)
		}
	}
}

func TestDevice(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ ua, want string }{
		{"", ""},
		{firefoxLinux, "Firefox on Linux"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", "Chrome on Windows"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0", "Edge on Windows"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", "Safari on macOS"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari on iOS"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0 Mobile/15E148 Safari/604.1", "Chrome on iOS"},
		{"Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36", "Samsung Internet on Android"},
		{"Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36", "Chrome on Android"},
		{"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", "Chrome on ChromeOS"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 OPR/111.0.0.0", "Opera on Windows"},
		{"curl/8.5.0", "curl"},
		{"HTTPie/3.2.2", "HTTPie"},
		{"Go-http-client/1.1", "Go"},
		{"Mozilla/5.0 (X11; Linux x86_64)", "Browser on Linux"},
		{"something else", "Other"},
	} {
		if got := session.Device(tc.ua); got != tc.want {
			t.Errorf("Device(%q) = %q, want %q", tc.ua, got, tc.want)
		}
	}
}
