-- name: CreateOneTimeToken :exec
INSERT INTO one_time_tokens (token_hash, purpose, user_id, email, created_at, expires_at)
VALUES (sqlc.arg(token_hash), sqlc.arg(purpose), sqlc.arg(user_id), sqlc.arg(email),
        sqlc.arg(now)::timestamptz, sqlc.arg(expires_at)::timestamptz);

-- name: ConsumeOneTimeToken :one
-- Uses a token up: one DELETE, so of any number of concurrent callers with
-- the same token exactly one gets the row. A wrong purpose or an expired
-- token gets no row, like an unknown one.
DELETE FROM one_time_tokens
WHERE token_hash = sqlc.arg(token_hash) AND purpose = sqlc.arg(purpose)
  AND expires_at > sqlc.arg(now)::timestamptz
RETURNING user_id, email, created_at, expires_at;

-- name: RestoreOneTimeToken :execrows
-- Puts a token that was used up back as it was (a flow that could not go
-- on after it spent the token: its hash was refused). A row of that hash
-- already there is kept; a user deleted meanwhile fails the foreign key.
INSERT INTO one_time_tokens (token_hash, purpose, user_id, email, created_at, expires_at)
VALUES (sqlc.arg(token_hash), sqlc.arg(purpose), sqlc.arg(user_id), sqlc.arg(email),
        sqlc.arg(created_at)::timestamptz, sqlc.arg(expires_at)::timestamptz)
ON CONFLICT (token_hash) DO NOTHING;

-- name: DeleteUserTokens :execrows
-- Deletes a user's tokens of the given purposes (after a reset, an email
-- change or a verification, the siblings of the token used).
DELETE FROM one_time_tokens
WHERE user_id = sqlc.arg(user_id) AND purpose = ANY(sqlc.arg(purposes)::text[]);

-- name: DeleteExpiredTokens :execrows
DELETE FROM one_time_tokens WHERE token_hash = ANY(ARRAY(
    SELECT d.token_hash FROM one_time_tokens d
    WHERE d.expires_at < sqlc.arg(cutoff)::timestamptz
    ORDER BY d.expires_at
    LIMIT sqlc.arg(batch_size)
    FOR UPDATE SKIP LOCKED
));

-- name: DeleteOneTimeToken :execrows
-- Drops one token, used or not, expired or not: one that was minted but
-- never handed out (its mail was not sent).
DELETE FROM one_time_tokens
WHERE token_hash = sqlc.arg(token_hash) AND purpose = sqlc.arg(purpose);

-- name: GetOneTimeTokenUser :one
-- The user of a token that would be consumed now, without using it up: a
-- flow refuses a bad token with this before it spends a password hash,
-- and locks the user (LockUser) before it consumes the token.
SELECT user_id FROM one_time_tokens
WHERE token_hash = sqlc.arg(token_hash) AND purpose = sqlc.arg(purpose)
  AND expires_at > sqlc.arg(now)::timestamptz;

-- name: AttemptOneTimeToken :one
-- Counts one attempt on a token (a login ticket) before the code that
-- comes with it is checked, and returns its user only while it has fewer
-- than max_attempts attempts and has not expired: a few wrong codes end it.
UPDATE one_time_tokens SET attempts = attempts + 1
WHERE token_hash = sqlc.arg(token_hash) AND purpose = sqlc.arg(purpose)
  AND expires_at > sqlc.arg(now)::timestamptz AND attempts < sqlc.arg(max_attempts)::int
RETURNING user_id;

-- name: CreateMailToken :execrows
-- Mints the one-time token of a mail's link, only while the sender still
-- holds the mail (sending, under its lease, not superseded): one statement,
-- which share-locks the mail's row, so a change that supersedes the mail
-- either waits for it or makes it insert nothing.
INSERT INTO one_time_tokens (token_hash, purpose, user_id, email, created_at, expires_at)
SELECT sqlc.arg(token_hash)::bytea, sqlc.arg(purpose)::text, m.user_id, m.to_addr,
       sqlc.arg(now)::timestamptz, sqlc.arg(expires_at)::timestamptz
FROM mail_outbox m
WHERE m.id = sqlc.arg(mail_id) AND m.status = 'sending' AND m.locked_until = sqlc.arg(lease_until)::timestamptz
  AND m.user_id = sqlc.arg(user_id)::uuid AND m.to_addr = sqlc.arg(email)::text
FOR SHARE;
