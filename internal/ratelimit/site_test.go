package ratelimit

import (
	"fmt"
	"testing"
	"time"

	"github.com/authd/authd/internal/testenv"
)

// TestSiteBucket: a site's bucket holds SiteFactor times a key's burst
// and refills SiteFactor times as fast; a key refused by its own bucket
// takes nothing from the site's, one refused by the site's gives its own
// token back; a site is never a key, whatever the key's text.
func TestSiteBucket(t *testing.T) {
	clk := testenv.NewClock()
	l := New(60, 2, clk.Now) // a key: 2 at once, then one a second
	for i := range 2 * SiteFactor {
		if ok, _ := l.AllowSite(fmt.Sprint("k", i), "s"); !ok {
			t.Fatalf("request %d of the site's burst refused", i)
		}
	}
	ok, retry := l.AllowSite("fresh", "s")
	if ok || retry <= 0 || retry > time.Second/SiteFactor {
		t.Fatalf("past the site's burst: ok=%v retry=%v, want refused with retry in (0, 1/16 s]", ok, retry)
	}
	if ok, _ := l.AllowSite("fresh", "other"); !ok {
		t.Error("a key refused by a site's bucket lost its own token")
	}
	if ok, _ := l.Allow("s"); !ok {
		t.Error("a key named like a site shares its bucket")
	}
	clk.Advance(time.Second / SiteFactor)
	if ok, _ := l.AllowSite("fresh2", "s"); !ok {
		t.Error("the site's bucket did not refill at SiteFactor times the rate")
	}
	// A key refused by its own bucket takes nothing from the site's.
	l = New(60, 1, clk.Now)
	l.AllowSite("a", "s")
	for range 100 {
		l.AllowSite("a", "s")
	}
	for i := range SiteFactor - 1 {
		if ok, _ := l.AllowSite(fmt.Sprint("b", i), "s"); !ok {
			t.Fatalf("a key's refused requests took from its site: fresh key %d refused", i)
		}
	}
}

// TestSiteFloodBounded: a flood of fresh keys of one site keeps at most
// MaxKeys buckets, and the site's bucket, used by every request, is never
// the one evicted: the flood stays refused.
func TestSiteFloodBounded(t *testing.T) {
	clk := testenv.NewClock()
	l := New(1, 1, clk.Now)
	allowed := 0
	for i := range MaxKeys + 5_000 {
		if ok, _ := l.AllowSite(fmt.Sprintf("2001:db8:1:%x::/64", i), "2001:db8:1::/48"); ok {
			allowed++
		}
	}
	if allowed != SiteFactor {
		t.Errorf("%d of the flood allowed, want %d (the site's burst)", allowed, SiteFactor)
	}
	if n := l.Len(); n > MaxKeys {
		t.Errorf("%d buckets, cap %d", n, MaxKeys)
	}
}
