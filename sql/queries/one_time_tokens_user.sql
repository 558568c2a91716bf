-- name: GetOneTimeTokenUser :one
-- The user of a token that would be consumed now, without using it up: a
-- flow refuses a bad token with this before it spends a password hash,
-- and locks the user (LockUser) before it consumes the token.
SELECT user_id FROM one_time_tokens
WHERE token_hash = sqlc.arg(token_hash) AND purpose = sqlc.arg(purpose)
  AND expires_at > sqlc.arg(now)::timestamptz;
