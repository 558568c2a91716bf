-- name: EnqueueMail :one
-- Queues one mail; call it in the transaction of the change that causes it.
INSERT INTO mail_outbox (kind, to_addr, user_id, data, next_attempt_at, created_at)
VALUES (sqlc.arg(kind), sqlc.arg(to_addr), sqlc.narg(user_id), sqlc.arg(data)::text::jsonb,
        sqlc.arg(now)::timestamptz, sqlc.arg(now)::timestamptz)
RETURNING id;

-- name: NotifyMail :exec
-- Wakes the senders (LISTEN authd_mail) once the transaction commits: call
-- it after EnqueueMail, in the same transaction. PostgreSQL folds the
-- identical notifications of one transaction into one, and drops them all
-- on rollback.
SELECT pg_notify('authd_mail', '');

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

-- name: GetMail :one
-- One outbox row (authd mail retry says why a mail cannot be retried).
SELECT * FROM mail_outbox WHERE id = sqlc.arg(id);

-- name: RequeueMail :execrows
-- Puts a failed mail back in the queue, due now (authd mail retry); never
-- one a change to its account superseded.
UPDATE mail_outbox
SET status = 'pending', next_attempt_at = sqlc.arg(now)::timestamptz, attempts = 0, last_error = NULL
WHERE id = sqlc.arg(id) AND status = 'failed' AND superseded_at IS NULL;

-- name: DeleteOldMailWithStatus :execrows
-- Removes mails of one status ('sent' or 'failed') created before cutoff,
-- in batches, so sent and failed mails can be kept for different times.
DELETE FROM mail_outbox WHERE id = ANY(ARRAY(
    SELECT d.id FROM mail_outbox d
    -- The literal IN keeps mail_outbox_done_idx usable by a generic plan.
    WHERE d.status IN ('sent', 'failed') AND d.status = sqlc.arg(status)::text
      AND d.created_at < sqlc.arg(cutoff)::timestamptz
    ORDER BY d.created_at
    LIMIT sqlc.arg(batch_size)
    FOR UPDATE SKIP LOCKED
));

-- name: SupersedeUserMails :execrows
-- Ends a user's mails of the given kinds that are not sent: pending ones and
-- those a sender holds fail with reason, failed ones keep their reason, and
-- all are marked superseded, so no retry sends them. Run it in the
-- transaction of the change that made their links stale, before that
-- change deletes the user's secrets: a sender that minted first has then
-- committed its secret (CreateMailToken holds the row), one that comes
-- later mints nothing.
UPDATE mail_outbox
SET status = 'failed', locked_until = NULL, data = '{}', superseded_at = sqlc.arg(now)::timestamptz,
    last_error = CASE WHEN status = 'failed' THEN last_error ELSE sqlc.arg(reason)::text END
WHERE user_id = sqlc.arg(user_id) AND kind = ANY(sqlc.arg(kinds)::text[])
  AND status IN ('pending', 'sending', 'failed') AND superseded_at IS NULL;
