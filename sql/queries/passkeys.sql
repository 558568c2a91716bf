-- name: CreatePasskey :one
INSERT INTO passkeys (user_id, credential_id, public_key, attestation_type, aaguid, sign_count, transports,
                      backup_eligible, backup_state, name, created_at)
VALUES (sqlc.arg(user_id), sqlc.arg(credential_id), sqlc.arg(public_key), sqlc.arg(attestation_type), sqlc.arg(aaguid),
        sqlc.arg(sign_count), sqlc.arg(transports)::text[], sqlc.arg(backup_eligible), sqlc.arg(backup_state),
        sqlc.arg(name), sqlc.arg(now)::timestamptz)
RETURNING *;

-- name: ListUserPasskeys :many
SELECT * FROM passkeys WHERE user_id = sqlc.arg(user_id) ORDER BY created_at, id;

-- name: GetPasskeyByCredential :one
SELECT * FROM passkeys WHERE credential_id = sqlc.arg(credential_id);

-- name: CountUserPasskeys :one
SELECT count(*) FROM passkeys WHERE user_id = sqlc.arg(user_id);

-- name: UsePasskey :execrows
-- An accepted assertion: the counter it carried (never lowered), the
-- backup state it reported, when. Run with the user locked.
UPDATE passkeys
SET sign_count = GREATEST(sign_count, sqlc.arg(sign_count)::bigint), backup_state = sqlc.arg(backup_state),
    last_used_at = sqlc.arg(now)::timestamptz
WHERE id = sqlc.arg(id) AND user_id = sqlc.arg(user_id);

-- name: RecordPasskeyRegression :execrows
-- An assertion whose signature counter did not go up: counted, whatever
-- the policy does with the login.
UPDATE passkeys SET counter_regressions = counter_regressions + 1 WHERE id = sqlc.arg(id);

-- name: RenamePasskey :execrows
UPDATE passkeys SET name = sqlc.arg(name) WHERE id = sqlc.arg(id) AND user_id = sqlc.arg(user_id);

-- name: DeletePasskey :execrows
DELETE FROM passkeys WHERE id = sqlc.arg(id) AND user_id = sqlc.arg(user_id);

-- name: DeleteUserPasskeys :many
DELETE FROM passkeys WHERE user_id = sqlc.arg(user_id) RETURNING id;

-- name: CreatePasskeyChallenge :exec
-- A WebAuthn challenge bound to its ceremony (purpose) and its user, stored
-- as the SHA-256 of the challenge (a one-time secret, internal/onetime).
INSERT INTO one_time_tokens (token_hash, purpose, user_id, email, created_at, expires_at)
VALUES (sqlc.arg(token_hash), sqlc.arg(purpose), sqlc.arg(user_id), '', sqlc.arg(now)::timestamptz,
        sqlc.arg(expires_at)::timestamptz);

-- name: CreatePasskeyLoginChallenge :exec
-- The challenge of a passwordless login: nobody is known yet.
INSERT INTO one_time_tokens (token_hash, purpose, user_id, email, created_at, expires_at)
VALUES (sqlc.arg(token_hash), 'passkey_login', NULL, '', sqlc.arg(now)::timestamptz, sqlc.arg(expires_at)::timestamptz);

-- name: TakePasskeyChallenge :execrows
-- Uses a challenge up: one DELETE, so of any number of concurrent finishes
-- with one challenge at most one gets it. It must be of this ceremony and
-- this user (a passwordless login's: of no user), and unexpired.
DELETE FROM one_time_tokens
WHERE token_hash = sqlc.arg(token_hash) AND purpose = sqlc.arg(purpose)
  AND user_id IS NOT DISTINCT FROM sqlc.narg(user_id)::uuid AND expires_at > sqlc.arg(now)::timestamptz;

-- name: GetPasskeyOf :one
SELECT * FROM passkeys WHERE id = sqlc.arg(id) AND user_id = sqlc.arg(user_id);
