package metrics

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestEveryMetricHasHelp: each authd_ family in the output has one HELP
// line with text and one TYPE line, before its first sample.
func TestEveryMetricHasHelp(t *testing.T) {
	m := New()
	m.Request("GET", "GET /healthz", 200, time.Millisecond)
	m.Login(LoginSuccess)
	m.Refresh(RefreshRotated)
	m.Throttled(ThrottledByAddress)
	m.PasswordPolicy(PasswordCheckFailed)
	m.Signed()
	m.Registration()
	m.SessionsRevoked("logout_all", 1)
	m.HashWait(time.Millisecond)
	m.Mail("reset", MailSent)
	m.WebhookDelivery("siem", WebhookDelivered)
	m.WebhookPaused("siem")
	m.WebhookUnconfigured("old")
	m.Passkey(PasskeyUsed)
	for name, f := range families() {
		if f.typ == "gauge" {
			m.Gauge(name, func() float64 { return 1 })
		}
	}
	var b bytes.Buffer
	m.Write(&b)
	help, typ := map[string]int{}, map[string]string{}
	seen := map[string]bool{}
	for _, line := range strings.Split(b.String(), "\n") {
		switch {
		case strings.HasPrefix(line, "# HELP authd_"):
			name, text, _ := strings.Cut(strings.TrimPrefix(line, "# HELP "), " ")
			if text == "" {
				t.Errorf("%s: empty HELP", name)
			}
			help[name]++
		case strings.HasPrefix(line, "# TYPE authd_"):
			name, kind, _ := strings.Cut(strings.TrimPrefix(line, "# TYPE "), " ")
			typ[name] = kind
		case strings.HasPrefix(line, "authd_"):
			fam := familyOf(line, families())
			if help[fam] != 1 || typ[fam] == "" {
				t.Errorf("%s: sample before its HELP (%d) and TYPE (%q)", line, help[fam], typ[fam])
			}
			seen[fam] = true
		}
	}
	for name, f := range families() {
		if !seen[name] {
			t.Errorf("%s: in the table but not written", name)
		} else if typ[name] != f.typ {
			t.Errorf("%s: TYPE %q, want %q", name, typ[name], f.typ)
		}
	}
}
