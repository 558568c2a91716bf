-- name: LockUser :one
-- Reads a user and locks the row until the end of the transaction, so
-- that two flows changing one account (a reset and an email change, say)
-- run one after the other. Every flow locks the user before its tokens,
-- so they cannot deadlock. NO KEY: inserts that reference the user (a
-- login's session, a sender's token) need not wait for it.
SELECT * FROM users WHERE id = sqlc.arg(id) FOR NO KEY UPDATE;

-- name: LockAdmins :many
-- Locks every admin row, so that the last two admins cannot both delete
-- themselves at once.
SELECT id FROM users WHERE role = 'admin' ORDER BY id FOR UPDATE;

-- name: GetOneTimeTokenUser :one
-- The user of a token that would be consumed now, without using it up: a
-- flow refuses a bad token with this before it spends a password hash,
-- and locks the user (LockUser) before it consumes the token.
SELECT user_id FROM one_time_tokens
WHERE token_hash = sqlc.arg(token_hash) AND purpose = sqlc.arg(purpose)
  AND expires_at > sqlc.arg(now)::timestamptz;
