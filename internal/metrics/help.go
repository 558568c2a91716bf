package metrics

import (
	"bufio"
	"bytes"
	"io"
	"strings"
)

// family is the metadata of one metric family: its TYPE and HELP lines.
type family struct{ typ, help string }

// families describes every authd_ metric; Write gives each its HELP and
// TYPE lines. A new metric gets a row here (TestEveryMetricHasHelp).
func families() map[string]family {
	return map[string]family{
		"authd_http_request_duration_seconds": {"histogram", "HTTP requests by method, route pattern and status, and how long they took."},
		"authd_logins_total":                  {"counter", "Login attempts by outcome."},
		"authd_refreshes_total":               {"counter", "Refresh token rotations by outcome."},
		"authd_passkeys_total":                {"counter", "Passkey events: added, removed, used, refused, counter_regression."},
		"authd_throttled_total":               {"counter", "Requests refused for too many attempts, by what was limited (address, account, mfa)."},
		"authd_password_policy_total":         {"counter", "New passwords refused by the password policy, by reason, and breached-password checks that failed."},
		"authd_token_signatures_total":        {"counter", "Token signatures made with a private key."},
		"authd_registrations_total":           {"counter", "Accounts registered."},
		"authd_sessions_revoked_total":        {"counter", "Sessions ended, by reason."},
		"authd_password_hash_wait_seconds":    {"histogram", "How long a request waited for a password hashing slot."},
		"authd_mail_total":                    {"counter", "Delivery attempts of the mail outbox, by kind and outcome."},
		"authd_webhook_deliveries_total":      {"counter", "Webhook delivery attempts, by endpoint and outcome (delivered, retry, failed)."},
		"authd_webhook_endpoint_paused_total": {"counter", "Times a webhook endpoint was paused after repeated failures or a 410 Gone."},
		"authd_webhook_unconfigured_total":    {"counter", "Endpoints found with webhook deliveries waiting that are no longer configured (once per endpoint and process)."},
		"authd_db_pool_acquired_conns":        {"gauge", "Database connections in use."},
		"authd_db_pool_idle_conns":            {"gauge", "Idle database connections."},
		"authd_db_pool_total_conns":           {"gauge", "Database connections open."},
		"authd_db_pool_max_conns":             {"gauge", "The most database connections the pool opens."},
		"authd_db_pool_acquires":              {"gauge", "Connections acquired from the pool since start."},
		"authd_db_pool_empty_acquires":        {"gauge", "Acquires since start that had to wait for a connection."},
		"authd_db_pool_acquire_wait_seconds":  {"gauge", "Total time spent waiting for a connection since start."},
	}
}

// writeWithMetadata copies the Prometheus text out to w, putting the HELP
// and TYPE lines of fams before the first sample of each family it knows.
// Samples of a family are consecutive (the registry sorts by family).
func writeWithMetadata(w io.Writer, out []byte, fams map[string]family) {
	bw := bufio.NewWriter(w)
	prev := ""
	for line := range bytes.Lines(out) {
		name := familyOf(string(line), fams)
		if f, ok := fams[name]; ok && name != prev {
			bw.WriteString("# HELP " + name + " " + f.help + "\n# TYPE " + name + " " + f.typ + "\n")
		}
		prev = name
		bw.Write(line)
	}
	bw.Flush()
}

// familyOf is the family of a sample line: its metric name, less a
// histogram's _bucket, _sum or _count suffix.
func familyOf(line string, fams map[string]family) string {
	name := line
	if i := strings.IndexAny(name, "{ "); i >= 0 {
		name = name[:i]
	}
	if _, ok := fams[name]; ok {
		return name
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && fams[base].typ == "histogram" {
			return base
		}
	}
	return name
}
