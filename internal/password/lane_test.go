package password

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestKnownLane: with one of two slots reserved, a flood of callers from
// unknown devices holds one slot and fills its own line; a known device's
// caller still starts at once on the reserved slot, and when both slots
// are busy it waits ahead of every flood waiter and is served first. The
// clock stands still and the compares wait at a gate, so every decision
// is exact: this checks admission, not speed.
func TestKnownLane(t *testing.T) {
	t0 := time.Now()
	g := newGate()
	const d = time.Minute
	h := newHasher(t, Options{Cost: 4, Wait: 2 * time.Second, Concurrency: 2, Reserved: 1, Queue: 3, RequestTimeout: time.Hour,
		HashTime: d, Now: func() time.Time { return t0 }, Compare: g.compare})
	ctx, cancel := context.WithDeadline(context.Background(), t0.Add(time.Hour))
	defer cancel()
	kctx := KnownDevice(ctx)

	// The flood: one runs, three wait (its line is full), the rest are
	// refused at once; the reserved slot stays free.
	var flood []caller
	for i := range 6 {
		flood = append(flood, arrive(h, ctx, fmt.Sprint("flood", i)))
	}
	if <-g.entered != "flood0" {
		t.Fatal("the first of the flood did not start")
	}
	for i, c := range flood[4:] {
		if err := <-c.done; !errors.Is(err, ErrBusy) {
			t.Errorf("flood %d: %v, want ErrBusy (the open line is full)", 4+i, err)
		}
	}
	if h.Refusal(ctx) == nil {
		t.Error("an unknown device is let in with the open lane full")
	}
	if err := h.Refusal(kctx); err != nil {
		t.Errorf("a known device is refused while its slot is free: %v", err)
	}

	// A known device starts at once, on the reserved slot.
	owner := arrive(h, kctx, "owner1")
	if got := <-g.entered; got != "owner1" {
		t.Fatalf("%s started, want the known device on the reserved slot", got)
	}
	// Both slots busy: the next known device waits, ahead of the flood.
	second := arrive(h, kctx, "owner2")
	if n := h.inLine(); n != 6 {
		t.Fatalf("in line: %d, want 2 running and 4 waiting", n)
	}
	// One gate opening at a time: each finished compare frees a slot.
	g.open <- struct{}{} // flood0 or owner1 ends
	if got := <-g.entered; got != "owner2" {
		t.Errorf("%s was served after a slot freed, want the known device waiting ahead of the flood", got)
	}
	close(g.open)
	for _, c := range append([]caller{owner, second}, flood[:4]...) {
		if err := <-c.done; err != nil {
			t.Errorf("admitted: %v", err)
		}
	}
}

// TestKnownLaneOff: with nothing reserved a known device still waits
// ahead of the others, and the open lane may use every slot.
func TestKnownLaneOff(t *testing.T) {
	t0 := time.Now()
	g := newGate()
	h := newHasher(t, Options{Cost: 4, Wait: 2 * time.Second, Concurrency: 2, Queue: 8, RequestTimeout: time.Hour,
		HashTime: time.Minute, Now: func() time.Time { return t0 }, Compare: g.compare})
	ctx, cancel := context.WithDeadline(context.Background(), t0.Add(time.Hour))
	defer cancel()
	var all []caller
	for i := range 4 {
		all = append(all, arrive(h, ctx, fmt.Sprint("open", i)))
	}
	started := map[string]bool{<-g.entered: true, <-g.entered: true}
	if !started["open0"] || !started["open1"] {
		t.Fatalf("started %v, want both slots to the open lane", started)
	}
	all = append(all, arrive(h, KnownDevice(ctx), "owner"))
	g.open <- struct{}{}
	if got := <-g.entered; got != "owner" {
		t.Errorf("%s was served next, want the known device", got)
	}
	close(g.open)
	for _, c := range all {
		if err := <-c.done; err != nil {
			t.Errorf("admitted: %v", err)
		}
	}
}

// TestReservedRange: reserving every slot is refused.
func TestReservedRange(t *testing.T) {
	for _, r := range []int{-1, 2} {
		if _, err := New(Options{Cost: 4, Wait: time.Second, Concurrency: 2, Reserved: r}); err == nil {
			t.Errorf("Reserved %d of 2 accepted", r)
		}
	}
}
