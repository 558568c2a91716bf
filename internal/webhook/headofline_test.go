package webhook

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestSlowEndpointDoesNotDelayOthers: one receiver that answers slowly
// (but within WEBHOOK_TIMEOUT, so it is never paused) must not hold back
// the deliveries of the other endpoints. Here a SIEM endpoint
// subscribed to "*" has a backlog of 48 deliveries (an attacker can make
// one: failed logins, registrations, logins of their own account) and
// takes 500 ms an answer; the next session.revoked to the resource
// server's DenySet endpoint ("deny", docs: "within about a second of the
// logout") waits behind every batch of the backlog: Once claims 16 due
// deliveries of any endpoint, oldest first, and waits for the slowest
// before claiming more, so the revocation arrives only after
// 48/16 x 500 ms. With a backlog of thousands, revoked sessions' tokens
// stay accepted by the verifiers for minutes.
func TestSlowEndpointDoesNotDelayOthers(t *testing.T) {
	f := newFixture(t)
	const slowAnswer = 500 * time.Millisecond
	slow := newReceiver(t)
	slow.setAnswer(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(slowAnswer)
		w.WriteHeader(http.StatusNoContent)
	})
	f.cfg = mustParse(t, fmt.Sprintf(`{"endpoints": [
		{"id": "siem", "url": %q, "events": ["*"], "secrets": [%q], "allow_private": true},
		{"id": "deny", "url": %q, "events": ["session.revoked"], "secrets": [%q], "allow_private": true}]}`,
		slow.srv.URL+"/hook", secret1, f.rcv.srv.URL+"/hook", secret2))
	s := f.sender()
	for range 3 * batchSize {
		f.event("siem")
	}
	f.clock.Advance(time.Second)
	f.event("siem", "deny")

	var (
		mu  sync.Mutex
		got time.Duration
	)
	start := time.Now()
	f.rcv.setAnswer(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		got = time.Since(start)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	f.once(s)
	mu.Lock()
	defer mu.Unlock()
	if got == 0 {
		t.Fatal("the deny endpoint got nothing")
	}
	if got > slowAnswer {
		t.Errorf("the deny endpoint's session.revoked arrived %s after the pass started: it waited behind another endpoint's backlog (one slow answer is %s)",
			got.Round(time.Millisecond), slowAnswer)
	}
}
