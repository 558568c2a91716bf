-- name: CreateUser :one
INSERT INTO users (name, email, password_hash, photo, created_at, updated_at)
VALUES (sqlc.arg(name), sqlc.arg(email), sqlc.arg(password_hash), sqlc.arg(photo), sqlc.arg(now)::timestamptz, sqlc.arg(now)::timestamptz)
RETURNING *;

-- name: GetUserByEmail :one
SELECT * FROM users WHERE email = sqlc.arg(email);

-- name: GetUserByID :one
SELECT * FROM users WHERE id = sqlc.arg(id);

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

-- name: UpdateUserPasswordHash :exec
-- Used to upgrade a hash made with an older bcrypt cost; only if it is unchanged.
UPDATE users SET password_hash = sqlc.arg(new_hash), updated_at = sqlc.arg(now)::timestamptz
WHERE id = sqlc.arg(id) AND password_hash = sqlc.arg(old_hash);

-- name: SetUserPassword :exec
-- A new password (reset or change).
UPDATE users SET password_hash = sqlc.arg(password_hash), password_changed_at = sqlc.arg(now)::timestamptz,
    updated_at = sqlc.arg(now)::timestamptz
WHERE id = sqlc.arg(id);

-- name: VerifyUserEmail :execrows
-- Marks the address proven, if it is still the user's address.
UPDATE users SET verified = true, email_verified_at = COALESCE(email_verified_at, sqlc.arg(now)::timestamptz),
    updated_at = sqlc.arg(now)::timestamptz
WHERE id = sqlc.arg(id) AND email = sqlc.arg(email);

-- name: ChangeUserEmail :execrows
-- Moves a user to a new, proven address, if the old one is still theirs.
UPDATE users SET email = sqlc.arg(new_email), verified = true, email_verified_at = sqlc.arg(now)::timestamptz,
    updated_at = sqlc.arg(now)::timestamptz
WHERE id = sqlc.arg(id) AND email = sqlc.arg(old_email);

-- name: DeleteUser :execrows
DELETE FROM users WHERE id = sqlc.arg(id);

-- name: SetUserRole :execrows
UPDATE users SET role = sqlc.arg(role), updated_at = sqlc.arg(now)::timestamptz WHERE id = sqlc.arg(id);

-- name: ListUsers :many
SELECT * FROM users
WHERE (sqlc.narg(email_prefix)::text IS NULL OR email LIKE sqlc.narg(email_prefix)::text || '%')
  AND (NOT sqlc.arg(unverified_only)::bool OR NOT verified)
ORDER BY created_at, id
LIMIT sqlc.arg(max_rows);

-- name: SetUserMFA :exec
-- Whether the user has an active second factor; the caller has locked the
-- user and changes the factors in the same transaction.
UPDATE users SET mfa_enabled = sqlc.arg(mfa_enabled)::bool, updated_at = sqlc.arg(now)::timestamptz
WHERE id = sqlc.arg(id);
