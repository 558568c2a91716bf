package metrics

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestNilIsSafe(t *testing.T) {
	var m *Metrics
	m.Request("GET", "x", 200, time.Millisecond)
	m.Login(LoginSuccess)
	m.Refresh(RefreshRotated)
	m.Throttled(ThrottledByAccount)
	m.MFA(MFAEnabled)
	m.SessionsRevoked("logout", 1)
	m.HashWait(time.Millisecond)
	m.Gauge("g", func() float64 { return 1 })
	m.Write(&bytes.Buffer{})
}

func TestWrite(t *testing.T) {
	m := New()
	m.Request("GET", "GET /healthz", 200, 3*time.Millisecond)
	m.Request("GET", "", 404, time.Millisecond)
	m.Login(LoginBadCredentials)
	m.Login(LoginBadCredentials)
	m.SessionsRevoked("logout_all", 3)
	m.MFA(MFARecoveryUsed)
	m.Gauge("authd_db_pool_max_conns", func() float64 { return 16 })
	var b bytes.Buffer
	m.Write(&b)
	out := b.String()
	for _, want := range []string{
		`authd_http_request_duration_seconds_bucket{method="GET",route="GET /healthz",status="200",le="0.005"} 1`,
		`authd_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"} 1`,
		`authd_logins_total{outcome="bad_credentials"} 2`,
		`authd_sessions_revoked_total{reason="logout_all"} 3`,
		`authd_mfa_total{event="recovery_used"} 1`,
		`authd_db_pool_max_conns 16`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s\n%s", want, out)
		}
	}
}
