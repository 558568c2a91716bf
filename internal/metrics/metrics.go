// Package metrics records authd's Prometheus metrics. Every method is safe
// on a nil *Metrics, which records nothing.
package metrics

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
)

// Outcomes, as label values.
const (
	LoginSuccess        = "success"
	LoginBadCredentials = "bad_credentials"
	LoginThrottled      = "throttled"
	LoginUnverified     = "email_not_verified"

	RefreshRotated     = "rotated"
	RefreshGrace       = "grace_reuse"
	RefreshTheft       = "reuse_detected"
	RefreshInvalid     = "invalid"
	ThrottledByAccount = "account"
	ThrottledByAddress = "address"
	ThrottledByMFA     = "mfa" // the per-account second-factor throttle

	// The second step of a login with a second factor, and its first
	// step's answer for such an account (authd_logins_total).
	LoginMFARequired  = "mfa_required"
	LoginMFABadCode   = "mfa_bad_code"
	LoginMFABadTicket = "mfa_bad_ticket"
)

// Second-factor events (authd_mfa_total).
const (
	MFAEnabled      = "enabled"       // a TOTP factor activated
	MFADisabled     = "disabled"      // by its user
	MFAReset        = "reset"         // by the operator (authd user mfa-reset)
	MFARecoveryUsed = "recovery_used" // a recovery code accepted
	MFABadCode      = "bad_code"      // a wrong, used or replayed code, at any route
)

// Passkey events (authd_passkeys_total).
const (
	PasskeyAdded     = "added"
	PasskeyRemoved   = "removed"
	PasskeyUsed      = "used"               // an accepted assertion: login, second factor or step-up
	PasskeyRefused   = "refused"            // a ceremony that did not verify, or a dead challenge
	PasskeyCountBack = "counter_regression" // a signature counter that did not go up
)

// latencyBuckets cover 100µs to 10s, for requests and the hashing queue.
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Metrics is one registry of authd's metrics.
type Metrics struct {
	set *vm.Set

	mu       sync.RWMutex
	requests map[requestKey]*vm.PrometheusHistogram
	families map[string]family // HELP and TYPE of each authd_ metric
}

type requestKey struct {
	method, route string
	status        int
}

// New returns an empty registry.
func New() *Metrics {
	return &Metrics{set: vm.NewSet(), requests: map[requestKey]*vm.PrometheusHistogram{}, families: families()}
}

// Request records one HTTP request by route pattern (never the raw path),
// method and status. Every label has a fixed set of values whatever the
// client sends: a method outside the standard ones is "other", a status
// outside 100 to 599 is 0, and route is the caller's pattern, "" for none.
func (m *Metrics) Request(method, route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = "unmatched"
	}
	if status < 100 || status > 599 {
		status = 0
	}
	k := requestKey{methodLabel(method), route, status}
	m.mu.RLock()
	h := m.requests[k]
	m.mu.RUnlock()
	if h == nil {
		name := fmt.Sprintf(`authd_http_request_duration_seconds{method=%q,route=%q,status="%d"}`, k.method, route, status)
		h = m.set.GetOrCreatePrometheusHistogramExt(name, latencyBuckets)
		m.mu.Lock()
		m.requests[k] = h
		m.mu.Unlock()
	}
	h.Update(d.Seconds())
}

// methodLabel is method if it is one of HTTP's standard methods, else "other".
func methodLabel(method string) string {
	switch method {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE":
		return method
	}
	return "other"
}

func (m *Metrics) count(name, label, value string) {
	if m == nil {
		return
	}
	m.set.GetOrCreateCounter(name + "{" + label + "=" + strconv.Quote(value) + "}").Inc()
}

// Login counts a login attempt by outcome.
func (m *Metrics) Login(outcome string) { m.count("authd_logins_total", "outcome", outcome) }

// Refresh counts a refresh by outcome.
func (m *Metrics) Refresh(outcome string) { m.count("authd_refreshes_total", "outcome", outcome) }

// MFA counts a second-factor event (one of the MFA* constants).
func (m *Metrics) MFA(event string) { m.count("authd_mfa_total", "event", event) }

// Passkey counts a passkey event (one of the Passkey* constants).
func (m *Metrics) Passkey(event string) { m.count("authd_passkeys_total", "event", event) }

// Throttled counts a 429 by what was throttled.
func (m *Metrics) Throttled(by string) { m.count("authd_throttled_total", "by", by) }

// PasswordCheckFailed is the outcome of PasswordPolicy for a
// breached-password check that got no answer (the password was let through).
const PasswordCheckFailed = "check_failed"

// PasswordPolicy counts a new password the policy refused, by reason
// (policy's Reason values), or a check that failed (PasswordCheckFailed).
func (m *Metrics) PasswordPolicy(outcome string) {
	m.count("authd_password_policy_total", "outcome", outcome)
}

// Signed counts one token signature made with a private key.
func (m *Metrics) Signed() {
	if m == nil {
		return
	}
	m.set.GetOrCreateCounter("authd_token_signatures_total").Inc()
}

// Registration counts a new account.
func (m *Metrics) Registration() { m.count("authd_registrations_total", "outcome", "success") }

// SessionsRevoked counts sessions ended, by reason.
func (m *Metrics) SessionsRevoked(reason string, n int64) {
	if m == nil || n <= 0 {
		return
	}
	m.set.GetOrCreateCounter("authd_sessions_revoked_total{reason=" + strconv.Quote(reason) + "}").Add(int(n))
}

// HashWait records how long a request waited for a password hashing slot.
func (m *Metrics) HashWait(d time.Duration) {
	if m == nil {
		return
	}
	m.set.GetOrCreatePrometheusHistogramExt("authd_password_hash_wait_seconds", latencyBuckets).Update(d.Seconds())
}

// Gauge registers a value read at each scrape (e.g. database pool figures).
func (m *Metrics) Gauge(name string, f func() float64) {
	if m == nil {
		return
	}
	m.set.GetOrCreateGauge(name, f)
}

// Write writes every metric in the Prometheus text format, each authd_
// family with its HELP and TYPE lines, then the process and Go runtime
// metrics.
func (m *Metrics) Write(w io.Writer) {
	if m == nil {
		return
	}
	var b bytes.Buffer
	m.set.WritePrometheus(&b)
	writeWithMetadata(w, b.Bytes(), m.families)
	vm.WriteProcessMetrics(w)
}

// Mail outcomes, as label values.
const (
	MailSent    = "sent"
	MailRetried = "retried"
	MailFailed  = "failed"
)

// Mail counts one delivery attempt of the outbox by kind and outcome
// (MailSent, MailRetried, MailFailed). The caller passes only its own
// fixed kinds (internal/mail maps anything else to "other").
func (m *Metrics) Mail(kind, outcome string) {
	if m == nil {
		return
	}
	m.set.GetOrCreateCounter("authd_mail_total{kind=" + strconv.Quote(kind) + ",outcome=" + strconv.Quote(outcome) + "}").Inc()
}

// Webhook delivery outcomes (authd_webhook_deliveries_total).
const (
	WebhookDelivered = "delivered" // a 2xx answer
	WebhookRetry     = "retry"     // put back for a later attempt
	WebhookFailed    = "failed"    // given up on, kept for the operator
)

// WebhookDelivery counts one delivery attempt by endpoint id (operator
// configured, so a bounded set) and outcome.
func (m *Metrics) WebhookDelivery(endpoint, outcome string) {
	if m == nil {
		return
	}
	m.set.GetOrCreateCounter("authd_webhook_deliveries_total{endpoint=" + strconv.Quote(endpoint) + ",outcome=" + strconv.Quote(outcome) + "}").Inc()
}

// WebhookPaused counts one pause of an endpoint after repeated failures
// or a 410 Gone.
func (m *Metrics) WebhookPaused(endpoint string) {
	m.count("authd_webhook_endpoint_paused_total", "endpoint", endpoint)
}

// WebhookUnconfigured counts an endpoint found with deliveries waiting
// that is no longer configured, once per endpoint and process.
func (m *Metrics) WebhookUnconfigured(endpoint string) {
	m.count("authd_webhook_unconfigured_total", "endpoint", endpoint)
}
