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
// the deliveries of the other endpoints. Here a SIEM endpoint subscribed
// to "*" has a backlog of three batches (an attacker can make one: failed
// logins, registrations, logins of their own account) and holds every
// answer until the test lets it go; the next session.revoked to the
// resource server's DenySet endpoint ("deny", docs: "within about a
// second of the logout") must arrive while the SIEM's first batch is
// still held. Before each endpoint had its own claims, Once took 16 due
// deliveries of any endpoint, oldest first, and waited for the slowest
// before claiming more: the revocation waited behind the whole backlog.
// No timing is asserted: the SIEM's answers are held, not slow.
func TestSlowEndpointDoesNotDelayOthers(t *testing.T) {
	f := newFixture(t)
	f.opts.Timeout = time.Hour // the held answers never time out
	release := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	defer open()
	slow := newReceiver(t)
	slow.setAnswer(func(w http.ResponseWriter, _ *http.Request) {
		<-release
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
	got := make(chan struct{}, 1)
	f.rcv.setAnswer(func(w http.ResponseWriter, _ *http.Request) {
		select {
		case got <- struct{}{}:
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	})
	done := make(chan struct{})
	go func() { defer close(done); f.once(s) }()
	select {
	case <-got:
	case <-time.After(30 * time.Second): // a hang, not a measure: it arrives at once or never
		t.Error("the deny endpoint got nothing while another endpoint's answers were held")
	}
	open()
	<-done
}
