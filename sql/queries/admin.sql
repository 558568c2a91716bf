-- name: CountLiveUserSessions :one
-- The sessions of a user that still work (authd user show), along
-- sessions_user_id_idx.
SELECT count(*) FROM sessions
WHERE user_id = sqlc.arg(user_id) AND revoked_at IS NULL
  AND idle_expires_at > sqlc.arg(now)::timestamptz AND expires_at > sqlc.arg(now)::timestamptz;

-- name: GetMail :one
-- One outbox row (authd mail retry says why a mail cannot be retried).
SELECT * FROM mail_outbox WHERE id = sqlc.arg(id);
