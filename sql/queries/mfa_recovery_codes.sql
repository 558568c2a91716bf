-- name: CreateRecoveryCode :exec
INSERT INTO mfa_recovery_codes (user_id, code_hash, created_at)
VALUES (sqlc.arg(user_id), sqlc.arg(code_hash), sqlc.arg(now)::timestamptz);

-- name: UseRecoveryCode :execrows
-- Uses a code up: one UPDATE, so of concurrent uses exactly one gets it.
UPDATE mfa_recovery_codes SET used_at = sqlc.arg(now)::timestamptz
WHERE user_id = sqlc.arg(user_id) AND code_hash = sqlc.arg(code_hash) AND used_at IS NULL;

-- name: CountRecoveryCodes :one
SELECT count(*) FROM mfa_recovery_codes WHERE user_id = sqlc.arg(user_id) AND used_at IS NULL;

-- name: DeleteRecoveryCodes :execrows
DELETE FROM mfa_recovery_codes WHERE user_id = sqlc.arg(user_id);
