package http

import (
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
