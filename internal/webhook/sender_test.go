package webhook

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDeliverySigned: one POST with the Standard Webhooks headers, a
// signature per secret that an independent HMAC computation accepts, and
// the contract's body; the row is delivered.
func TestDeliverySigned(t *testing.T) {
	f := newFixture(t)
	id, user, sess := f.event("siem")
	if n := f.once(f.s); n != 1 {
		t.Fatalf("claimed %d, want 1", n)
	}
	got := f.rcv.requests()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	r := got[0]
	if h, want := r.header.Get("webhook-id"), "evt_"+strconv.FormatInt(id, 10); h != want {
		t.Errorf("webhook-id = %q, want %q", h, want)
	}
	if h, want := r.header.Get("webhook-timestamp"), strconv.FormatInt(f.clock.Now().Unix(), 10); h != want {
		t.Errorf("webhook-timestamp = %q, want %q", h, want)
	}
	if h := r.header.Get("Content-Type"); h != "application/json" {
		t.Errorf("Content-Type = %q", h)
	}
	verify(t, r, key1, key2)

	body := decode(t, r)
	if body["type"] != "session.revoked" {
		t.Errorf("type = %v", body["type"])
	}
	if ts, err := time.Parse(time.RFC3339, body["timestamp"].(string)); err != nil || !ts.Equal(f.clock.Now()) || !strings.HasSuffix(body["timestamp"].(string), "Z") {
		t.Errorf("timestamp = %v (%v), want %s in UTC", body["timestamp"], err, f.clock.Now())
	}
	data, _ := body["data"].(map[string]any)
	want := map[string]any{
		"event_id": float64(id), "user_id": user.String(), "session_id": sess.String(), "actor": "client",
		"client_addr": "192.0.2.1", "request_id": "req-1", "reason": "logout", "access_expires_by": "2030-01-02T03:04:05Z",
	}
	if fmt.Sprint(data) != fmt.Sprint(want) {
		t.Errorf("data = %v\nwant  %v", data, want)
	}
	if d := f.only(); d.Status != "delivered" || d.Attempts != 1 || d.LastError != nil {
		t.Errorf("delivery = %+v, want delivered after 1 attempt", d)
	}
	if v := f.metric(`authd_webhook_deliveries_total{endpoint="siem",outcome="delivered"}`); v != "1" {
		t.Errorf("delivered metric = %q, want 1", v)
	}
}

// TestRetryThenDelivered: a 500 puts the delivery back with backoff (not
// due at once), and the next attempt, once due, delivers it with the same
// webhook-id and a fresh timestamp.
func TestRetryThenDelivered(t *testing.T) {
	f := newFixture(t)
	f.event("siem")
	f.rcv.setAnswer(status(http.StatusInternalServerError))
	f.once(f.s)
	d := f.only()
	if d.Status != "pending" || d.Attempts != 1 || d.LastError == nil || !strings.HasPrefix(*d.LastError, "HTTP 500") {
		t.Fatalf("after a 500: %+v, want pending, 1 attempt, HTTP 500", d)
	}
	if wait := d.Next.Sub(f.clock.Now()); wait < 2500*time.Millisecond || wait > 5*time.Second {
		t.Errorf("next attempt in %s, want 2.5s to 5s", wait)
	}
	if n := f.once(f.s); n != 0 {
		t.Errorf("claimed %d before the backoff ended", n)
	}
	f.rcv.setAnswer(nil)
	f.clock.Advance(5 * time.Second)
	f.once(f.s)
	if d := f.only(); d.Status != "delivered" || d.Attempts != 2 {
		t.Errorf("after a 204: %+v, want delivered after 2 attempts", d)
	}
	got := f.rcv.requests()
	if len(got) != 2 || got[0].header.Get("webhook-id") != got[1].header.Get("webhook-id") {
		t.Fatalf("requests %d, ids differ or missing", len(got))
	}
	if got[0].header.Get("webhook-timestamp") == got[1].header.Get("webhook-timestamp") {
		t.Errorf("both attempts have timestamp %s", got[0].header.Get("webhook-timestamp"))
	}
	verify(t, got[1], key1, key2)
	for _, c := range []struct{ outcome, want string }{{"retry", "1"}, {"delivered", "1"}} {
		if v := f.metric(`authd_webhook_deliveries_total{endpoint="siem",outcome="` + c.outcome + `"}`); v != c.want {
			t.Errorf("%s metric = %q, want %s", c.outcome, v, c.want)
		}
	}
}

// TestFaultModes: a receiver that never answers (WEBHOOK_TIMEOUT), one
// that resets the connection and one that redirects are retried; one
// that answers 2xx and then trickles its body is delivered, and the
// sender reads no more than its timeout allows.
func TestFaultModes(t *testing.T) {
	for _, c := range []struct {
		name       string
		answer     http.HandlerFunc
		wantStatus string
		wantError  string
	}{
		{"timeout", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, "pending", "deadline exceeded"},
		{"reset", func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		}, "pending", "EOF"},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}, "pending", "HTTP 302 (redirects are not followed)"},
		{"slow body", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			w.Write([]byte("{"))
			http.NewResponseController(w).Flush()
			<-r.Context().Done()
		}, "delivered", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.opts.Timeout = 300 * time.Millisecond
			s := f.sender()
			f.rcv.setAnswer(c.answer)
			f.event("siem")
			f.once(s)
			d := f.only()
			if d.Status != c.wantStatus {
				t.Errorf("status %s, want %s (last error %v)", d.Status, c.wantStatus, d.LastError)
			}
			switch {
			case c.wantError == "" && d.LastError != nil:
				t.Errorf("last error %q, want none", *d.LastError)
			case c.wantError != "" && (d.LastError == nil || !strings.Contains(*d.LastError, c.wantError)):
				t.Errorf("last error %v, want one containing %q", d.LastError, c.wantError)
			}
			if n := len(f.rcv.requests()); n != 1 {
				t.Errorf("%d requests, want 1 (a redirect is not followed)", n)
			}
		})
	}
}

// TestFailedAfterADay: an attempt that fails a day after its event marks
// the delivery failed (kept, with the reason), counted and logged.
func TestFailedAfterADay(t *testing.T) {
	f := newFixture(t)
	f.event("siem")
	f.rcv.setAnswer(status(http.StatusServiceUnavailable))
	f.once(f.s)
	f.clock.Advance(24 * time.Hour)
	f.once(f.s)
	d := f.only()
	if d.Status != "failed" || d.LastError == nil || !strings.Contains(*d.LastError, "HTTP 503") {
		t.Fatalf("after a day: %+v, want failed with HTTP 503", d)
	}
	if v := f.metric(`authd_webhook_deliveries_total{endpoint="siem",outcome="failed"}`); v != "1" {
		t.Errorf("failed metric = %q, want 1", v)
	}
	if !strings.Contains(f.logs.String(), `"msg":"webhook delivery failed; kept in webhook_deliveries with status failed"`) {
		t.Errorf("no warning in the log:\n%s", f.logs)
	}
	f.clock.Advance(24 * time.Hour)
	if n := f.once(f.s); n != 0 {
		t.Errorf("claimed %d failed deliveries", n)
	}
}

// TestKilledSenderResumes: a sender stopped while the receiver holds its
// request records nothing; no other sender takes the delivery while the
// lease holds, and another one delivers it once the lease has run out,
// with the same webhook-id.
func TestKilledSenderResumes(t *testing.T) {
	f := newFixture(t)
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	f.rcv.setAnswer(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(arrived) })
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	f.event("siem")
	ctx, kill := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { _, err := f.s.Once(ctx); done <- err }()
	<-arrived
	kill()
	if err := <-done; err != nil {
		t.Fatalf("killed sender: %v", err)
	}
	if d := f.only(); d.Status != "sending" || d.Attempts != 1 {
		t.Fatalf("after the kill: %+v, want sending (leased), 1 attempt", d)
	}

	f.rcv.setAnswer(nil)
	other := f.sender()
	if n := f.once(other); n != 0 {
		t.Fatalf("another sender claimed %d while the lease holds", n)
	}
	f.clock.Advance(other.lease + time.Second)
	if n := f.once(other); n != 1 {
		t.Fatalf("another sender claimed %d after the lease, want 1", n)
	}
	if d := f.only(); d.Status != "delivered" || d.Attempts != 2 {
		t.Errorf("after the lease: %+v, want delivered after 2 attempts", d)
	}
	got := f.rcv.requests()
	if len(got) != 2 || got[0].header.Get("webhook-id") != got[1].header.Get("webhook-id") {
		t.Errorf("%d requests, want 2 with one webhook-id", len(got))
	}
}

// TestTwoSendersDeliverOnce: two senders (two replicas) running against
// one database, woken by LISTEN, deliver each event to a healthy receiver
// exactly once.
func TestTwoSendersDeliverOnce(t *testing.T) {
	f := newFixture(t)
	f.opts.Now = nil // real time: the senders run on their own
	f.opts.Listen = true
	f.opts.PollInterval = 100 * time.Millisecond
	a, b := f.sender(), f.sender()
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { a.Run(ctx) })
	wg.Go(func() { b.Run(ctx) })
	defer func() { stop(); wg.Wait() }()

	const events = 200
	f.clock = nil
	for i := 0; i < events; i++ {
		insertNow(t, f, "siem")
		if i%20 == 0 {
			if _, err := f.pool.Exec(t.Context(), "SELECT pg_notify('authd_webhook', '')"); err != nil {
				t.Fatal(err)
			}
		}
	}
	for {
		var left int
		if err := f.pool.QueryRow(t.Context(), "SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered'").Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			break
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("%d deliveries left", left)
		case <-time.After(20 * time.Millisecond):
		}
	}
	seen := map[string]int{}
	for _, r := range f.rcv.requests() {
		seen[r.header.Get("webhook-id")]++
	}
	if len(seen) != events {
		t.Errorf("%d distinct events delivered, want %d", len(seen), events)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
	}
}

// insertNow records an event at the real time.
func insertNow(t *testing.T, f *fixture, endpoints ...string) {
	t.Helper()
	_, err := f.pool.Exec(t.Context(), `
		WITH e AS (INSERT INTO security_events (created_at, name, actor) VALUES (now(), 'login.failed', 'client') RETURNING id)
		INSERT INTO webhook_deliveries (event_id, endpoint, next_attempt_at, created_at)
		SELECT e.id, ep, now(), now() FROM e CROSS JOIN unnest($1::text[]) AS ep`, endpoints)
	if err != nil {
		t.Fatal(err)
	}
}

// TestPauseAndResume: ten failures in a row pause the endpoint (metric,
// warning) for every replica; its deliveries wait, untouched, until the
// pause ends; a 2xx then delivers them and clears the count.
func TestPauseAndResume(t *testing.T) {
	f := newFixture(t)
	f.rcv.setAnswer(status(http.StatusBadGateway))
	for range pauseAfter {
		f.event("siem")
	}
	if n := f.once(f.s); n != pauseAfter {
		t.Fatalf("claimed %d, want %d", n, pauseAfter)
	}
	ep, err := f.q.GetWebhookEndpoint(t.Context(), "siem")
	if err != nil {
		t.Fatal(err)
	}
	if ep.Failures != pauseAfter || ep.PausedUntil == nil || !ep.PausedUntil.Equal(f.clock.Now().Add(firstPause)) {
		t.Fatalf("endpoint %+v, want %d failures, paused for %s", ep, pauseAfter, firstPause)
	}
	if v := f.metric(`authd_webhook_endpoint_paused_total{endpoint="siem"}`); v != "1" {
		t.Errorf("paused metric = %q, want 1", v)
	}
	if !strings.Contains(f.logs.String(), `"msg":"webhook endpoint paused: its deliveries wait"`) {
		t.Errorf("no warning in the log:\n%s", f.logs)
	}

	f.rcv.setAnswer(nil)
	f.event("siem")
	f.clock.Advance(firstPause - time.Second) // the retries are due, the pause holds
	if n := f.once(f.sender()); n != 0 {
		t.Fatalf("claimed %d during the pause", n)
	}
	f.clock.Advance(time.Second)
	if n := f.once(f.s); n != pauseAfter+1 {
		t.Fatalf("claimed %d after the pause, want %d", n, pauseAfter+1)
	}
	for _, d := range f.deliveries() {
		if d.Status != "delivered" {
			t.Errorf("delivery %+v, want delivered", d)
		}
	}
	ep, err = f.q.GetWebhookEndpoint(t.Context(), "siem")
	if err != nil {
		t.Fatal(err)
	}
	if ep.Failures != 0 || ep.PausedUntil != nil || ep.LastError != nil {
		t.Errorf("endpoint after a 2xx: %+v, want reset", ep)
	}
}

// TestGonePauses: 410 Gone pauses the endpoint at once, for the longest
// pause; the delivery is kept for later.
func TestGonePauses(t *testing.T) {
	f := newFixture(t)
	f.rcv.setAnswer(status(http.StatusGone))
	f.event("siem")
	f.once(f.s)
	ep, err := f.q.GetWebhookEndpoint(t.Context(), "siem")
	if err != nil {
		t.Fatal(err)
	}
	if ep.PausedUntil == nil || !ep.PausedUntil.Equal(f.clock.Now().Add(longestPause)) {
		t.Errorf("paused until %v, want %s from now", ep.PausedUntil, longestPause)
	}
	if d := f.only(); d.Status != "pending" {
		t.Errorf("delivery %+v, want pending", d)
	}
}

// TestSSRFRefused: without allow_private, no connection is made to a
// loopback address, given as an IP or as a name that resolves to one; the
// delivery waits with the reason. With allow_private it is delivered.
func TestSSRFRefused(t *testing.T) {
	for _, c := range []struct {
		name    string
		host    func(*fixture) string
		private bool
		want    string
	}{
		{"ip", func(f *fixture) string { return f.rcv.srv.Listener.Addr().String() }, false, "pending"},
		{"name", func(f *fixture) string {
			return "localhost:" + f.rcv.srv.URL[strings.LastIndexByte(f.rcv.srv.URL, ':')+1:]
		}, false, "pending"},
		{"allowed", func(f *fixture) string { return f.rcv.srv.Listener.Addr().String() }, true, "delivered"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.cfg = mustParse(t, fmt.Sprintf(`{"endpoints": [{"id": "siem", "url": "http://%s/hook", "events": ["session.*"], "secrets": [%q], "allow_private": %v}]}`,
				c.host(f), secret1, c.private))
			s := f.sender()
			f.event("siem")
			f.once(s)
			d := f.only()
			if d.Status != c.want {
				t.Fatalf("delivery %+v, want %s", d, c.want)
			}
			n := len(f.rcv.requests())
			if c.private {
				if n != 1 {
					t.Errorf("%d requests, want 1", n)
				}
				return
			}
			if n != 0 {
				t.Errorf("%d requests reached the receiver", n)
			}
			if d.LastError == nil || !strings.Contains(*d.LastError, "address not allowed") {
				t.Errorf("last error %v, want address not allowed", d.LastError)
			}
		})
	}
}

// TestUnconfiguredEndpointWaits: deliveries of an endpoint no longer in
// the file are left pending, and the sender warns once per endpoint.
func TestUnconfiguredEndpointWaits(t *testing.T) {
	f := newFixture(t)
	f.event("old", "siem")
	f.event("old")
	if n := f.once(f.s); n != 1 {
		t.Fatalf("claimed %d, want only siem's", n)
	}
	f.s.checkUnconfigured(t.Context())
	f.s.Purge(t.Context())
	if n := strings.Count(f.logs.String(), "no longer configured"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, f.logs)
	}
	if !strings.Contains(f.logs.String(), `"endpoint":"old","waiting":2`) {
		t.Errorf("warning does not name old with 2 waiting:\n%s", f.logs)
	}
	if v := f.metric(`authd_webhook_unconfigured_total{endpoint="old"}`); v != "1" {
		t.Errorf("unconfigured metric = %q, want 1", v)
	}
	var pending int
	if err := f.pool.QueryRow(t.Context(), "SELECT count(*) FROM webhook_deliveries WHERE endpoint = 'old' AND status = 'pending' AND attempts = 0").Scan(&pending); err != nil {
		t.Fatal(err)
	}
	if pending != 2 {
		t.Errorf("%d of old's deliveries untouched, want 2", pending)
	}
}

// TestPurge: delivered rows go after a day, failed ones after 30 days;
// pending ones stay.
func TestPurge(t *testing.T) {
	f := newFixture(t)
	f.event("siem")
	f.event("siem")
	f.event("siem")
	if _, err := f.pool.Exec(t.Context(), `UPDATE webhook_deliveries SET status = CASE id % 3 WHEN 0 THEN 'pending' WHEN 1 THEN 'delivered' ELSE 'failed' END`); err != nil {
		t.Fatal(err)
	}
	count := func() (n int) {
		if err := f.pool.QueryRow(t.Context(), "SELECT count(*) FROM webhook_deliveries").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	f.clock.Advance(deliveredRetention + time.Second)
	f.s.Purge(t.Context())
	if n := count(); n != 2 {
		t.Errorf("after a day: %d rows, want 2", n)
	}
	f.clock.Advance(failedRetention)
	f.s.Purge(t.Context())
	if n := count(); n != 1 {
		t.Errorf("after 30 days: %d rows, want 1 (the pending one)", n)
	}
}
