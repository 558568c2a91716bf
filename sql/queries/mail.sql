-- name: EnqueueMail :one
-- Queues one mail; call it in the transaction of the change that causes it.
INSERT INTO mail_outbox (kind, to_addr, user_id, data, next_attempt_at, created_at)
VALUES (sqlc.arg(kind), sqlc.arg(to_addr), sqlc.narg(user_id), sqlc.arg(data)::jsonb,
        sqlc.arg(now)::timestamptz, sqlc.arg(now)::timestamptz)
RETURNING id;

-- name: ClaimMail :many
-- Takes up to batch_size due mails for this sender: pending ones whose time
-- has come, and sending ones whose lease ran out (their sender died). Rows
-- another sender holds are skipped, not waited for. Each claim counts as an
-- attempt.
UPDATE mail_outbox m
SET status = 'sending', locked_until = sqlc.arg(lease_until)::timestamptz, attempts = m.attempts + 1
WHERE m.id = ANY(ARRAY(
    SELECT d.id FROM mail_outbox d
    WHERE d.status IN ('pending', 'sending')
      AND d.next_attempt_at <= sqlc.arg(now)::timestamptz
      AND (d.status = 'pending' OR d.locked_until < sqlc.arg(now)::timestamptz)
    ORDER BY d.next_attempt_at
    LIMIT sqlc.arg(batch_size)
    FOR UPDATE SKIP LOCKED
))
RETURNING m.*;

-- name: MarkMailSent :execrows
-- Records a delivery, if this sender still holds the lease.
UPDATE mail_outbox
SET status = 'sent', sent_at = sqlc.arg(now)::timestamptz, locked_until = NULL, data = '{}', last_error = NULL
WHERE id = sqlc.arg(id) AND status = 'sending' AND locked_until = sqlc.arg(lease_until)::timestamptz;

-- name: RetryMail :execrows
-- Puts a mail back for a later attempt after a transient failure.
UPDATE mail_outbox
SET status = 'pending', next_attempt_at = sqlc.arg(next_attempt_at)::timestamptz, locked_until = NULL,
    last_error = sqlc.arg(last_error)::text
WHERE id = sqlc.arg(id) AND status = 'sending' AND locked_until = sqlc.arg(lease_until)::timestamptz;

-- name: FailMail :execrows
-- Gives up on a mail (a permanent failure, too many attempts, or too late
-- to be of use). Its data is dropped.
UPDATE mail_outbox
SET status = 'failed', locked_until = NULL, data = '{}', last_error = sqlc.arg(last_error)::text
WHERE id = sqlc.arg(id) AND status = 'sending' AND locked_until = sqlc.arg(lease_until)::timestamptz;

-- name: ListMail :many
SELECT * FROM mail_outbox
WHERE (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status)::text)
ORDER BY id DESC
LIMIT sqlc.arg(max_rows);

-- name: RequeueMail :execrows
-- Puts a failed mail back in the queue, due now (authd mail retry).
UPDATE mail_outbox
SET status = 'pending', next_attempt_at = sqlc.arg(now)::timestamptz, attempts = 0, last_error = NULL
WHERE id = sqlc.arg(id) AND status = 'failed';

-- name: DeleteOldMail :execrows
-- Removes sent and failed mails created before cutoff, in batches.
DELETE FROM mail_outbox WHERE id = ANY(ARRAY(
    SELECT d.id FROM mail_outbox d
    WHERE d.status IN ('sent', 'failed') AND d.created_at < sqlc.arg(cutoff)::timestamptz
    ORDER BY d.created_at
    LIMIT sqlc.arg(batch_size)
    FOR UPDATE SKIP LOCKED
));

-- name: TakeMailAllowance :one
-- Counts a mail-sending request for an address and purpose, and says
-- whether a mail may go out: not within cooldown of the last one, and at
-- most max_per_window per window. Any address gets a row, registered or
-- not, so the work done is the same.
INSERT INTO mail_throttle AS t (email, purpose, last_sent_at, window_start, sent)
VALUES (sqlc.arg(email), sqlc.arg(purpose), sqlc.arg(now)::timestamptz, sqlc.arg(now)::timestamptz, 1)
ON CONFLICT (email, purpose) DO UPDATE SET
    window_start = CASE WHEN t.window_start <= sqlc.arg(now)::timestamptz - make_interval(secs => sqlc.arg(window_secs)::float8)
                        THEN sqlc.arg(now)::timestamptz ELSE t.window_start END,
    sent = CASE WHEN t.window_start <= sqlc.arg(now)::timestamptz - make_interval(secs => sqlc.arg(window_secs)::float8)
                THEN 1 ELSE t.sent + 1 END,
    last_sent_at = sqlc.arg(now)::timestamptz
WHERE t.last_sent_at <= sqlc.arg(now)::timestamptz - make_interval(secs => sqlc.arg(cooldown_secs)::float8)
  AND (t.sent < sqlc.arg(max_per_window)::int
       OR t.window_start <= sqlc.arg(now)::timestamptz - make_interval(secs => sqlc.arg(window_secs)::float8))
RETURNING sent;

-- name: DeleteStaleMailThrottles :execrows
DELETE FROM mail_throttle WHERE last_sent_at < sqlc.arg(cutoff)::timestamptz;
