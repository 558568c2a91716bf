package main

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/internal/config"
	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/testenv"
)

// TestMetricsDefault: with METRICS_ADDR unset, /metrics is not on the API
// port (a JSON 404) but on the documented default listener, on loopback.
// That port is fixed and may be taken on the machine running the test: then
// authd must refuse to start, naming it, and never fall back to the API
// port. Either way nothing is served on the main port.
func TestMetricsDefault(t *testing.T) {
	var def string
	for _, v := range config.Variables() {
		if v.Name == "METRICS_ADDR" {
			def = v.Default
		}
	}
	loopback := strings.HasPrefix(def, "127.0.0.1:")
	if !loopback {
		t.Errorf("METRICS_ADDR default %q, want a loopback host:port", def)
	}
	bin := buildBinary(t)
	p := spawn(t, bin, append(keyEnv(t, bin), "DATABASE_URL="+dbtest.URL(t))) // no METRICS_ADDR
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-p.done:
			p.done <- err
			b, _ := os.ReadFile(p.logs.Name())
			if !loopback || !strings.Contains(string(b), "metrics listen") || !strings.Contains(string(b), def) {
				t.Fatalf("authd exited before ready (%v), and not because %s is taken:\n%s", err, def, b)
			}
			t.Logf("the default metrics address %s is taken on this machine; authd refused to start, as it should", def)
			return
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("authd not ready after 30s")
		}
	}
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
	if code, body := get(p.base + "/metrics"); code != 404 || !strings.Contains(body, `"status":"fail"`) {
		t.Errorf("main port /metrics with METRICS_ADDR unset: %d %.200q, want a JSON 404", code, body)
	}
	if !loopback {
		return
	}
	if code, body := get("http://" + def + "/metrics"); code != 200 || !strings.Contains(body, "authd_") {
		t.Errorf("default metrics listener %s: %d %.200q", def, code, body)
	}
}

// TestMetricsListener: with METRICS_ADDR, /metrics and (PPROF=true) the
// profiles are on that listener only, never on the main port.
func TestMetricsListener(t *testing.T) {
	bin := buildBinary(t)
	maddr := "127.0.0.1:" + testenv.FreePort(t)
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
