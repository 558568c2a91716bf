-- name: InsertSecurityEvents :exec
-- One event, or one per session (session_ids, as text: '' for none), and
-- a webhook delivery of each for every endpoint in endpoints, in one
-- statement of the change's transaction. The ids travel as text[]: behind
-- PgBouncer in transaction mode pgx cannot encode a uuid[] it has no
-- statement description for.
WITH e AS (
    INSERT INTO security_events (created_at, name, user_id, session_id, actor, request_id, client_addr, user_agent, data)
    SELECT sqlc.arg(now)::timestamptz, sqlc.arg(name)::text, sqlc.narg(user_id)::uuid,
           NULLIF(sid, '')::uuid,
           sqlc.arg(actor)::text, sqlc.arg(request_id)::text, sqlc.arg(client_addr)::text, sqlc.arg(user_agent)::text,
           sqlc.arg(data)::text::jsonb
    FROM unnest(sqlc.arg(session_ids)::text[]) AS sid
    RETURNING id
)
INSERT INTO webhook_deliveries (event_id, endpoint, next_attempt_at, created_at)
SELECT e.id, ep, sqlc.arg(now)::timestamptz, sqlc.arg(now)::timestamptz
FROM e CROSS JOIN unnest(sqlc.arg(endpoints)::text[]) AS ep;

-- name: NotifyWebhooks :exec
-- Wakes the webhook senders (LISTEN authd_webhook) once the transaction
-- commits.
SELECT pg_notify('authd_webhook', '');

-- name: ListUserSecurityEvents :many
-- A user's events, newest first, older than before_id (0: from the newest).
SELECT * FROM security_events
WHERE user_id = sqlc.arg(user_id) AND (sqlc.arg(before_id)::bigint = 0 OR id < sqlc.arg(before_id)::bigint)
ORDER BY id DESC
LIMIT sqlc.arg(max_rows);

-- name: ListSecurityEvents :many
-- Every user's events since a time, oldest first, after after_id (the
-- last one printed), for authd events.
SELECT * FROM security_events
WHERE created_at >= sqlc.arg(since)::timestamptz AND id > sqlc.arg(after_id)::bigint
  AND (sqlc.narg(user_id)::uuid IS NULL OR user_id = sqlc.narg(user_id)::uuid)
ORDER BY id
LIMIT sqlc.arg(max_rows);

-- name: DeleteOldSecurityEvents :execrows
-- Retention: a batch of events older than cutoff (their deliveries go with
-- them).
DELETE FROM security_events
WHERE id IN (SELECT id FROM security_events WHERE created_at < sqlc.arg(cutoff)::timestamptz ORDER BY id LIMIT sqlc.arg(batch_size));

-- name: CountUserSecurityEvents :one
SELECT count(*) FROM security_events WHERE user_id = sqlc.arg(user_id);
