package http

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/authd/authd/internal/metrics"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(d *testDeps) {
		d.Metrics = metrics.New()
		d.Options.MetricsOnMainPort = true
	})
	access, refresh := f.loginTokens("metrics@example.com")
	f.meStatus(access)
	loginAs(f, "metrics@example.com", "wrong password")
	f.mustRefresh(refresh)
	f.do(nil, "POST", "/api/auth/logout", nil, "Authorization", "Bearer "+access)

	resp, err := http.Get(f.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		`authd_http_request_duration_seconds_bucket{method="GET",route="GET /api/users/me",status="200",le=`,
		`authd_http_request_duration_seconds_count{method="POST",route="POST /api/auth/login",status="400"} 1`,
		`authd_logins_total{outcome="success"} 1`,
		`authd_logins_total{outcome="bad_credentials"} 1`,
		`authd_refreshes_total{outcome="rotated"} 1`,
		`authd_sessions_revoked_total{reason="logout_current"} 1`,
		`authd_registrations_total{outcome="success"} 1`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, "metrics@example.com") || strings.Contains(body, access) {
		t.Error("metrics contain user data")
	}
}

// TestMetricsBoundedByClientInput: thousands of requests with distinct
// methods (up to 1,000 bytes) and paths add a fixed, small number of
// series, and /metrics stays small. Each distinct method used to become a
// histogram of its own, never freed.
func TestMetricsBoundedByClientInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(d *testDeps) {
		d.Metrics = metrics.New()
		d.Options.MetricsOnMainPort = true
	})
	series := func() (int, int) {
		resp, err := http.Get(f.srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Count(string(b), "authd_http_request_duration_seconds_count{"), len(b)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	for i := range 2000 {
		method := fmt.Sprintf("M%d%s", i, strings.Repeat("X", i%1000))
		req, _ := http.NewRequest(method, fmt.Sprintf("%s/api/%d/%s", f.srv.URL, i, strings.Repeat("p", i%500)), nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	n, size := series()
	if n > 5 {
		t.Errorf("%d request series after 2,000 distinct methods and paths, want at most 5", n)
	}
	if size > 64<<10 {
		t.Errorf("/metrics is %d bytes after 2,000 distinct methods and paths", size)
	}
	if strings.Contains(f.logs.String(), strings.Repeat("X", 100)) || strings.Contains(f.logs.String(), strings.Repeat("p", 300)) {
		t.Error("the request log holds a client's method or path untruncated")
	}
}
