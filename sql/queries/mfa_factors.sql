-- name: CreateFactor :one
-- A new pending factor. The id is chosen by the caller: it is part of the
-- associated data the secret was sealed with.
INSERT INTO mfa_factors (id, user_id, kind, secret, key_id, created_at)
VALUES (sqlc.arg(id), sqlc.arg(user_id), sqlc.arg(kind), sqlc.arg(secret), sqlc.arg(key_id), sqlc.arg(now)::timestamptz)
RETURNING *;

-- name: GetUserFactor :one
-- The user's factor of a kind, pending or active.
SELECT * FROM mfa_factors WHERE user_id = sqlc.arg(user_id) AND kind = sqlc.arg(kind);

-- name: DeletePendingFactor :execrows
DELETE FROM mfa_factors WHERE user_id = sqlc.arg(user_id) AND kind = sqlc.arg(kind) AND status = 'pending';

-- name: ActivateFactor :execrows
-- Activates a pending factor with the step of the code that proved it, in
-- one statement: of concurrent activations exactly one gets the row, and
-- the step is spent (the same code cannot then log in).
UPDATE mfa_factors
SET status = 'active', activated_at = sqlc.arg(now)::timestamptz, last_step = sqlc.arg(step)::bigint
WHERE id = sqlc.arg(id) AND status = 'pending'
  AND (last_step IS NULL OR last_step < sqlc.arg(step)::bigint);

-- name: AcceptFactorStep :execrows
-- Accepts a code's time step on an active factor if it is later than the
-- last one accepted: the compare-and-set that makes a code work once, and
-- of concurrent uses of one code exactly one win.
UPDATE mfa_factors SET last_step = sqlc.arg(step)::bigint
WHERE id = sqlc.arg(id) AND status = 'active'
  AND (last_step IS NULL OR last_step < sqlc.arg(step)::bigint);

-- name: DeleteUserFactors :execrows
DELETE FROM mfa_factors WHERE user_id = sqlc.arg(user_id);

