// Package webhook delivers the security event log to operator-configured
// HTTP endpoints (WEBHOOKS_FILE), signed the Standard Webhooks way.
//
// internal/session writes a webhook_deliveries row per endpoint that wants
// an event (Config.Wants) in the transaction of the change, so nothing
// but that insert is on the path of a request. A Sender, in any replica,
// claims due rows under a lease (FOR UPDATE SKIP LOCKED), posts them
// outside any transaction and records the outcome: delivered on a 2xx,
// else retried with backoff, and failed (kept for the operator) once an
// attempt fails a day after the event. An endpoint that keeps failing is
// paused for a while, shared by every replica (webhook_endpoints).
package webhook
