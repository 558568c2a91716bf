-- name: ClaimWebhookDeliveries :many
-- Takes up to batch_size due deliveries for this sender: pending ones whose
-- time has come, and sending ones whose lease ran out (their sender died),
-- of the endpoints this sender knows (endpoints) and that are not paused.
-- Rows another sender holds are skipped, not waited for. Each claim counts
-- as an attempt. The event comes with it: the payload is built from it.
UPDATE webhook_deliveries w
SET status = 'sending', locked_until = sqlc.arg(lease_until)::timestamptz, attempts = w.attempts + 1
FROM security_events e
WHERE e.id = w.event_id AND w.id = ANY(ARRAY(
    SELECT d.id FROM webhook_deliveries d
    WHERE d.status IN ('pending', 'sending')
      AND d.next_attempt_at <= sqlc.arg(now)::timestamptz
      AND (d.status = 'pending' OR d.locked_until < sqlc.arg(now)::timestamptz)
      AND d.endpoint = ANY(sqlc.arg(endpoints)::text[])
      AND NOT EXISTS (SELECT 1 FROM webhook_endpoints p
                      WHERE p.endpoint = d.endpoint AND p.paused_until > sqlc.arg(now)::timestamptz)
    ORDER BY d.next_attempt_at
    LIMIT sqlc.arg(batch_size)
    FOR UPDATE OF d SKIP LOCKED
))
RETURNING w.id, w.endpoint, w.attempts, w.locked_until, w.created_at,
          e.id AS event_id, e.created_at AS event_created_at, e.name, e.user_id, e.session_id,
          e.actor, e.request_id, e.client_addr, e.data;

-- name: MarkWebhookDelivered :execrows
-- Records a delivery, if this sender still holds the lease.
UPDATE webhook_deliveries
SET status = 'delivered', delivered_at = sqlc.arg(now)::timestamptz, locked_until = NULL, last_error = NULL
WHERE id = sqlc.arg(id) AND status = 'sending' AND locked_until = sqlc.arg(lease_until)::timestamptz;

-- name: RetryWebhookDelivery :execrows
-- Puts a delivery back for a later attempt, if this sender still holds
-- the lease.
UPDATE webhook_deliveries
SET status = 'pending', next_attempt_at = sqlc.arg(next_attempt_at)::timestamptz, locked_until = NULL,
    last_error = sqlc.arg(last_error)::text
WHERE id = sqlc.arg(id) AND status = 'sending' AND locked_until = sqlc.arg(lease_until)::timestamptz;

-- name: FailWebhookDelivery :execrows
-- Gives up on a delivery (kept, with its reason, for the operator), if
-- this sender still holds the lease.
UPDATE webhook_deliveries
SET status = 'failed', locked_until = NULL, last_error = sqlc.arg(last_error)::text
WHERE id = sqlc.arg(id) AND status = 'sending' AND locked_until = sqlc.arg(lease_until)::timestamptz;

-- name: RecordWebhookFailure :one
-- Counts one more failed attempt in a row of an endpoint, shared by every
-- replica, and returns the count.
INSERT INTO webhook_endpoints (endpoint, failures, last_error, updated_at)
VALUES (sqlc.arg(endpoint), 1, sqlc.arg(last_error)::text, sqlc.arg(now)::timestamptz)
ON CONFLICT (endpoint) DO UPDATE
SET failures = webhook_endpoints.failures + 1, last_error = EXCLUDED.last_error, updated_at = EXCLUDED.updated_at
RETURNING failures;

-- name: PauseWebhookEndpoint :exec
-- Holds back an endpoint's deliveries until paused_until.
UPDATE webhook_endpoints
SET paused_until = sqlc.arg(paused_until)::timestamptz, updated_at = sqlc.arg(now)::timestamptz
WHERE endpoint = sqlc.arg(endpoint);

-- name: ResetWebhookEndpoint :exec
-- An endpoint answered 2xx: its failures in a row start again from zero.
UPDATE webhook_endpoints
SET failures = 0, paused_until = NULL, last_error = NULL, updated_at = sqlc.arg(now)::timestamptz
WHERE endpoint = sqlc.arg(endpoint) AND (failures > 0 OR paused_until IS NOT NULL);

-- name: GetWebhookEndpoint :one
SELECT * FROM webhook_endpoints WHERE endpoint = sqlc.arg(endpoint);

-- name: ListUnconfiguredWebhookEndpoints :many
-- Endpoints with deliveries waiting that are not in endpoints (no longer
-- configured): their deliveries stay pending, for the operator to see.
SELECT d.endpoint, count(*) AS waiting FROM webhook_deliveries d
WHERE d.status IN ('pending', 'sending') AND NOT (d.endpoint = ANY(sqlc.arg(endpoints)::text[]))
GROUP BY d.endpoint
ORDER BY d.endpoint;

-- name: DeleteOldWebhookDeliveries :execrows
-- Removes deliveries of one status ('delivered' or 'failed') created
-- before cutoff, in batches.
DELETE FROM webhook_deliveries WHERE id = ANY(ARRAY(
    SELECT d.id FROM webhook_deliveries d
    -- The literal IN keeps webhook_deliveries_done_idx usable by a generic plan.
    WHERE d.status IN ('delivered', 'failed') AND d.status = sqlc.arg(status)::text
      AND d.created_at < sqlc.arg(cutoff)::timestamptz
    ORDER BY d.created_at
    LIMIT sqlc.arg(batch_size)
    FOR UPDATE SKIP LOCKED
));
