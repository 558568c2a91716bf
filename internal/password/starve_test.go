package password

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// TestOpenLaneNotStarved: the known lane goes first at every dispatch, so
// a steady stream of known-device callers (one attacker's own account and
// its device_id cookie is enough: any account holder is "known" for
// themselves) never lets an open-lane caller start, even one admitted
// before them with a free estimate; it waits until it is dropped with
// ErrBusy. Here, with the default config's two slots and nothing reserved,
// the open caller sees 20 known callers served after it arrived and
// never its own turn.
func TestOpenLaneNotStarved(t *testing.T) {
	t0 := time.Now()
	var now atomic.Int64
	now.Store(t0.UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	g := newGate()
	const d = time.Second
	h := newHasher(t, Options{Cost: 4, Wait: 2 * time.Second, Concurrency: 2, Queue: 8, RequestTimeout: 10 * time.Second,
		HashTime: d, Now: clock, Compare: g.compare})
	ctx := context.Background()
	kctx := KnownDevice(ctx)
	deadline := func(c context.Context) context.Context {
		c, cancel := context.WithDeadline(c, clock().Add(10*time.Second))
		t.Cleanup(cancel)
		return c
	}

	// Two known callers hold both slots; the victim, from an unknown
	// device, arrives and waits first in the open line.
	var known []caller
	for i := range 2 {
		known = append(known, arrive(h, deadline(kctx), fmt.Sprint("known", i)))
		<-g.entered
	}
	victim := arrive(h, deadline(ctx), "victim")
	served := 0
	for i := 2; i < 22; i++ {
		// One more known caller arrives while both slots are busy, then
		// one running hash ends: its slot goes to the known caller.
		known = append(known, arrive(h, deadline(kctx), fmt.Sprint("known", i)))
		now.Add(int64(d / 2))
		g.open <- struct{}{}
		if got := <-g.entered; got == "victim" {
			served++
			break
		}
		select {
		case err := <-victim.done:
			t.Fatalf("the open-lane caller was dropped (%v) after %d known callers were served ahead of it", err, i-1)
		default:
		}
	}
	close(g.open)
	if served == 0 {
		t.Errorf("the open-lane caller never started while 20 known callers that came after it were served")
	}
	<-victim.done
	for _, c := range known {
		<-c.done
	}
}
