package http

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/ratelimit"
	"github.com/authd/authd/internal/testenv"
)

// TestSiteLimitIPv6: a flood from many /64s of one /48, each /64 within
// its own bucket, is refused at the /48 level once the site's bucket (16
// times a client's) is empty; a client of another /48 is not, and an
// IPv4 client has no site level.
func TestSiteLimitIPv6(t *testing.T) {
	t.Parallel()
	clk := testenv.NewClock()
	lim := ratelimit.New(1, 2, clk.Now) // a burst of 2, then one a minute
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	h := perClient(slog.New(slog.NewTextHandler(io.Discard, nil)), metrics.New(), lim,
		func(r *http.Request) clientKey { return limitKeys(r.Header.Get("X-Client"), 64, 48) })(ok)
	send := func(addr string) int {
		r := httptest.NewRequest(http.MethodPost, "/api/auth/login", nil)
		r.Header.Set("X-Client", addr)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	var allowed, refused int
	for n := range 256 { // 256 /64s of 2001:db8:1::/48, one request each (within each /64's burst)
		switch send(fmt.Sprintf("2001:db8:1:%x::1", n)) {
		case http.StatusTooManyRequests:
			refused++
		default:
			allowed++
		}
	}
	if allowed != 2*16 || refused != 256-2*16 {
		t.Errorf("a flood from 256 /64s of one /48: %d allowed, %d refused; want %d allowed (the /48's burst, 16 x 2)", allowed, refused, 2*16)
	}
	if code := send("2001:db8:2:1::1"); code == http.StatusTooManyRequests {
		t.Error("a client of another /48 refused")
	}
	for n := range 40 { // IPv4: no site level
		if code := send(fmt.Sprintf("192.0.2.%d", n)); code == http.StatusTooManyRequests {
			t.Errorf("IPv4 client %d refused", n)
		}
	}
	clk.Advance(time.Minute) // the /48 refills at 16 a minute
	if code := send("2001:db8:1:ff00::1"); code == http.StatusTooManyRequests {
		t.Error("a fresh /64 of the flooded /48 refused after a minute")
	}
}

func TestLimitKeys(t *testing.T) {
	tests := []struct {
		addr       string
		bits, site int
		want       clientKey
	}{
		{"192.0.2.7", 64, 48, clientKey{client: "192.0.2.7"}},
		{"2001:db8:1:2:3:4:5:6", 64, 48, clientKey{client: "2001:db8:1:2::/64", site: "2001:db8:1::/48"}},
		{"2001:db8:1:2:3:4:5:6", 128, 48, clientKey{client: "2001:db8:1:2:3:4:5:6", site: "2001:db8:1::/48"}},
		{"2001:db8:1:2:3:4:5:6", 64, 0, clientKey{client: "2001:db8:1:2::/64"}},
		{"2001:db8:1:2:3:4:5:6", 48, 48, clientKey{client: "2001:db8:1::/48"}},
		{"2001:db8:1:2:3:4:5:6", 48, 56, clientKey{client: "2001:db8:1::/48"}},
		{"site 2001:db8:1::/48", 64, 48, clientKey{client: "site 2001:db8:1::/48"}},
	}
	for _, tt := range tests {
		if got := limitKeys(tt.addr, tt.bits, tt.site); got != tt.want {
			t.Errorf("limitKeys(%q, %d, %d) = %+v, want %+v", tt.addr, tt.bits, tt.site, got, tt.want)
		}
	}
}
