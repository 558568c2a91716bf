package http

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/authd/authd/internal/ratelimit"
)

// TestRefusalHeld: with REFUSAL_DELAY a 429 is held before it is sent (at
// most its Retry-After), so that a client ignoring Retry-After cannot turn
// refusals into a flood; the answer itself is unchanged. Before the pacer,
// the 429 came at once.
func TestRefusalHeld(t *testing.T) {
	t.Parallel()
	const delay = 300 * time.Millisecond
	f := newFixture(t, func(d *testDeps) {
		d.LoginLimit = ratelimit.New(1, 1, d.Now) // one login a minute: Retry-After 60 s
		d.Options.RefusalDelay = delay
	})
	loginAs(f, "paced@example.com", "password1")
	start := time.Now()
	r := loginAs(f, "paced@example.com", "password1")
	held := time.Since(start)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("second login: %d, Retry-After %q; want 429 with Retry-After", r.status, r.header.Get("Retry-After"))
	}
	if held < delay {
		t.Errorf("the 429 came after %s, want it held at least REFUSAL_DELAY, %s", held, delay)
	}
}

// TestPacer: an answer is held for the smaller of its Retry-After and the
// delay, or until its request ends; beyond max held answers, the next goes
// at once.
func TestPacer(t *testing.T) {
	t.Parallel()
	if newPacer(0, 10) != nil || newPacer(time.Second, 0) != nil {
		t.Error("a pacer without a delay or without room should be nil (nothing held)")
	}
	var none *pacer
	none.wait(t.Context(), time.Hour) // returns at once

	p := newPacer(time.Hour, 1)
	start := time.Now()
	p.wait(t.Context(), 50*time.Millisecond)
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("held %s, want its Retry-After, 50ms (smaller than the delay)", d)
	}

	ctx, cancel := context.WithCancel(t.Context())
	holding := make(chan struct{})
	go func() {
		defer close(holding)
		p.wait(ctx, time.Hour) // takes the only place until cancelled
	}()
	for len(p.slots) == 0 {
		time.Sleep(time.Millisecond)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.wait(t.Context(), time.Hour) // no room: at once
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("with every place taken, an answer was held")
	}
	cancel()
	select {
	case <-holding:
	case <-time.After(10 * time.Second):
		t.Fatal("a held answer outlived its request")
	}
}
