-- name: CreateUser :one
INSERT INTO users (name, email, password_hash, photo, created_at, updated_at)
VALUES (sqlc.arg(name), sqlc.arg(email), sqlc.arg(password_hash), sqlc.arg(photo), sqlc.arg(now)::timestamptz, sqlc.arg(now)::timestamptz)
RETURNING *;

-- name: GetUserByEmail :one
SELECT * FROM users WHERE email = sqlc.arg(email);

-- name: GetUserByID :one
SELECT * FROM users WHERE id = sqlc.arg(id);

-- name: UpdateUserPasswordHash :exec
-- Used to upgrade a hash made with an older bcrypt cost; only if it is unchanged.
UPDATE users SET password_hash = sqlc.arg(new_hash), updated_at = sqlc.arg(now)::timestamptz
WHERE id = sqlc.arg(id) AND password_hash = sqlc.arg(old_hash);
