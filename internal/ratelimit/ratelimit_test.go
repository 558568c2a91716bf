package ratelimit

import (
	"fmt"
	"testing"
	"time"

	"github.com/authd/authd/internal/testenv"
)

func TestBurstThenRate(t *testing.T) {
	clk := testenv.NewClock()
	l := New(60, 3, clk.Now) // one a second after a burst of three
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, retry := l.Allow("a")
	if ok || retry <= 0 || retry > time.Second {
		t.Fatalf("4th request: ok=%v retry=%v, want refused with retry in (0, 1s]", ok, retry)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Error("another key shares the bucket")
	}
	clk.Advance(time.Second)
	if ok, _ := l.Allow("a"); !ok {
		t.Error("refill after 1s refused")
	}
	if ok, _ := l.Allow("a"); ok {
		t.Error("second request after one refill allowed")
	}
}

func TestRefusedRequestsDoNotConsume(t *testing.T) {
	clk := testenv.NewClock()
	l := New(60, 1, clk.Now)
	l.Allow("a")
	for range 10 {
		l.Allow("a") // refused; must not push the next token further away
	}
	clk.Advance(time.Second)
	if ok, _ := l.Allow("a"); !ok {
		t.Error("refused requests consumed future tokens")
	}
}

func TestNilAllowsAll(t *testing.T) {
	l := New(0, 10, nil)
	if l != nil {
		t.Fatal("perMinute 0 should disable the limiter")
	}
	if ok, _ := l.Allow("x"); !ok {
		t.Error("nil limiter refused")
	}
}

func TestSweepDropsIdle(t *testing.T) {
	clk := testenv.NewClock()
	l := New(60, 2, clk.Now)
	for _, k := range []string{"a", "b", "c"} {
		l.Allow(k)
	}
	clk.Advance(2 * time.Minute)
	l.Allow("d")
	if got, want := len(l.buckets), 1; got != want {
		t.Errorf("buckets after sweep = %d, want %d", got, want)
	}
}

// TestEvictsLeastRecentlyUsed: a flood of fresh keys past the cap evicts
// the least recently used buckets, never a throttled key that keeps
// sending; the count of buckets stays at the cap. (Reaching the cap used to
// clear every bucket, throttled ones too.)
func TestEvictsLeastRecentlyUsed(t *testing.T) {
	clk := testenv.NewClock()
	l := New(1, 1, clk.Now)
	const keys = 110_000 // past the cap, whatever it is
	if ok, _ := l.Allow("attacker"); !ok {
		t.Fatal("first request refused")
	}
	for i := range keys {
		if ok, _ := l.Allow("attacker"); ok {
			t.Fatalf("throttled key allowed after %d fresh keys", i)
		}
		l.Allow(fmt.Sprintf("fresh-%d", i))
		if n := len(l.buckets); n > MaxKeys {
			t.Fatalf("%d buckets, cap %d", n, MaxKeys)
		}
	}
	if ok, _ := l.Allow("fresh-0"); !ok {
		t.Error("an evicted key's new bucket should start full")
	}
}
