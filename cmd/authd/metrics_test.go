package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/authd/authd/internal/db/dbtest"
)

// TestMetricsListener: with METRICS_ADDR, /metrics and (PPROF=true) the
// profiles are on that listener only, never on the main port.
func TestMetricsListener(t *testing.T) {
	bin := buildBinary(t)
	maddr := "127.0.0.1:" + freePort(t)
	p := start(t, bin, append(keyEnv(t, bin), "DATABASE_URL="+dbtest.URL(t), "METRICS_ADDR="+maddr, "PPROF=true"))
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("http://" + maddr + "/metrics"); code != 200 || !strings.Contains(body, "authd_") {
		t.Errorf("metrics listener /metrics: %d %.200q", code, body)
	}
	if code, body := get("http://" + maddr + "/debug/pprof/heap?debug=1"); code != 200 || !strings.Contains(body, "heap profile") {
		t.Errorf("metrics listener heap profile: %d %.200q", code, body)
	}
	if code, body := get("http://" + maddr + "/debug/pprof/profile?seconds=1"); code != 200 || len(body) == 0 {
		t.Errorf("metrics listener CPU profile: %d, %d bytes", code, len(body))
	}
	for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/heap"} {
		if code, body := get(p.base + path); code != 404 || !strings.Contains(body, `"status":"fail"`) {
			t.Errorf("main port %s: %d %.200q, want a JSON 404", path, code, body)
		}
	}
}
