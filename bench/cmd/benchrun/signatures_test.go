package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestScrapeCounters: the counters are read from authd's Prometheus text,
// and the signatures of the logins are taken off before dividing.
func TestScrapeCounters(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("# HELP x\nauthd_token_signatures_total 1232\n" +
			`authd_refreshes_total{outcome="rotated"} 1190` + "\n" +
			`authd_refreshes_total{outcome="grace_reuse"} 10` + "\n" +
			`authd_refreshes_total{outcome="invalid"} 7` + "\n" +
			`authd_logins_total{outcome="success"} 32` + "\n" +
			`authd_logins_total{outcome="bad_credentials"} 3` + "\n"))
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	var p int
	for _, c := range port {
		p = p*10 + int(c-'0')
	}
	c, err := scrapeCounters(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if c != (counters{signatures: 1232, refreshes: 1200, logins: 32}) {
		t.Fatalf("counters = %+v", c)
	}
	n := signatureCount{Signatures: c.signatures, Refreshes: c.refreshes, Logins: c.logins}
	if n.PerRefresh() != 1 || !strings.Contains(n.String(), "= **1.00**") {
		t.Errorf("per refresh = %v, %q; want 1.00", n.PerRefresh(), n.String())
	}
}

// TestSpeedNote: a run whose probe took more than a quarter longer than the
// fastest is named; a steady machine says so.
func TestSpeedNote(t *testing.T) {
	steady := speedNote([]probeRun{{"me", 40e6}, {"refresh", 42e6}, {"login", 45e6}})
	if !strings.Contains(steady, "from 40.0 ms to 45.0 ms, median 42.0 ms") || !strings.Contains(steady, "No run started") {
		t.Errorf("steady: %q", steady)
	}
	slow := speedNote([]probeRun{{"me", 40e6}, {"refresh", 60e6}, {"login", 45e6}})
	if !strings.Contains(slow, "**The machine's speed varied: 1 runs") || !strings.Contains(slow, "refresh (60.0 ms)") || strings.Contains(slow, "login (") {
		t.Errorf("slow: %q", slow)
	}
	if speedNote(nil) != "" {
		t.Error("a note without probes")
	}
}
