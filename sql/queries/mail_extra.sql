-- name: NotifyMail :exec
-- Wakes the senders (LISTEN authd_mail) once the transaction commits: call
-- it after EnqueueMail, in the same transaction. PostgreSQL folds the
-- identical notifications of one transaction into one, and drops them all
-- on rollback.
SELECT pg_notify('authd_mail', '');

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
