package verify

import (
	"fmt"
	"testing"
	"time"
)

func sid(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// TestDenySetExpiry: a session is held until its access tokens' expiry
// plus DenyMargin, and then dropped.
func TestDenySetExpiry(t *testing.T) {
	c := newClock()
	d := NewDenySet(DenyOptions{Now: c.Now})
	exp := c.Now().Add(15 * time.Minute)
	d.Add(sid(1), exp)
	d.Add(sid(2), exp.Add(time.Minute))
	d.Add(sid(3), c.Now().Add(-DenyMargin)) // already past: not added
	if !d.Denied(sid(1)) || !d.Denied(sid(2)) || d.Denied(sid(3)) || d.Len() != 2 {
		t.Fatalf("Denied 1, 2, 3 = %v %v %v, Len %d; want true true false, 2",
			d.Denied(sid(1)), d.Denied(sid(2)), d.Denied(sid(3)), d.Len())
	}
	c.Add(15*time.Minute + DenyMargin - time.Second)
	if !d.Denied(sid(1)) {
		t.Error("dropped before its time")
	}
	c.Add(time.Second)
	if d.Denied(sid(1)) || !d.Denied(sid(2)) || d.Len() != 1 {
		t.Errorf("at its time: Denied 1, 2 = %v %v, Len %d; want false true, 1", d.Denied(sid(1)), d.Denied(sid(2)), d.Len())
	}
	// A later expiry for a held session extends it; an earlier one does not shorten it.
	d.Add(sid(2), c.Now().Add(time.Hour))
	d.Add(sid(2), c.Now())
	c.Add(30 * time.Minute)
	if !d.Denied(sid(2)) {
		t.Error("the later expiry was not kept")
	}
	c.Add(31 * time.Minute)
	if d.Denied(sid(2)) || d.Len() != 0 {
		t.Errorf("after the later expiry: Denied %v, Len %d", d.Denied(sid(2)), d.Len())
	}
}

// TestDenySetCap: a full set evicts the session whose tokens expire
// soonest, and counts it.
func TestDenySetCap(t *testing.T) {
	c := newClock()
	d := NewDenySet(DenyOptions{Max: 3, Now: c.Now})
	base := c.Now().Add(15 * time.Minute)
	d.Add(sid(1), base.Add(3*time.Second))
	d.Add(sid(2), base.Add(1*time.Second)) // soonest
	d.Add(sid(3), base.Add(2*time.Second))
	d.Add(sid(4), base.Add(4*time.Second))
	if d.Len() != 3 || d.Evicted() != 1 {
		t.Fatalf("Len %d, Evicted %d; want 3, 1", d.Len(), d.Evicted())
	}
	for i, want := range []bool{1: true, 2: false, 3: true, 4: true} {
		if i > 0 && d.Denied(sid(i)) != want {
			t.Errorf("Denied(%d) = %v, want %v", i, !want, want)
		}
	}
	d.Add(sid(5), base.Add(5*time.Second))
	if d.Denied(sid(3)) || d.Evicted() != 2 {
		t.Errorf("second eviction: Denied(3) %v, Evicted %d; want false, 2", d.Denied(sid(3)), d.Evicted())
	}
	// Expired entries make room before anything is evicted.
	c.Add(15*time.Minute + DenyMargin + 4*time.Second) // 1 and 4 expire; 5 stays
	d.Add(sid(6), c.Now().Add(time.Minute))
	d.Add(sid(7), c.Now().Add(time.Minute))
	if d.Evicted() != 2 || d.Len() != 3 || !d.Denied(sid(5)) {
		t.Errorf("Evicted %d, Len %d, Denied(5) %v; want 2, 3, true", d.Evicted(), d.Len(), d.Denied(sid(5)))
	}
}

// TestDenySetBounded: however many sessions are revoked, the set holds at
// most Max.
func TestDenySetBounded(t *testing.T) {
	c := newClock()
	d := NewDenySet(DenyOptions{Max: 100, Now: c.Now})
	for i := range 10_000 {
		d.Add(sid(i), c.Now().Add(time.Duration(i)*time.Second))
	}
	if d.Len() != 100 || d.Evicted() != 9_900 {
		t.Errorf("Len %d, Evicted %d; want 100, 9900", d.Len(), d.Evicted())
	}
	if !d.Denied(sid(9_999)) || d.Denied(sid(0)) {
		t.Error("kept the wrong ones")
	}
}
