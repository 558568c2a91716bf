-- name: CreateSession :one
INSERT INTO sessions (user_id, current_hash, created_at, last_used_at, idle_expires_at, expires_at, user_agent, client_addr, auth_time)
VALUES (sqlc.arg(user_id), sqlc.arg(current_hash), sqlc.arg(now)::timestamptz, sqlc.arg(now)::timestamptz,
        sqlc.arg(idle_expires_at), sqlc.arg(expires_at), sqlc.arg(user_agent), sqlc.arg(client_addr), sqlc.arg(now)::timestamptz)
RETURNING *;

-- name: CreateMFASession :one
-- A login's session after its second factor (aal 2), with the methods
-- used. The caller's transaction has locked the user and accepted the code.
INSERT INTO sessions (user_id, current_hash, created_at, last_used_at, idle_expires_at, expires_at, user_agent, client_addr,
                      aal, amr, auth_time)
VALUES (sqlc.arg(user_id), sqlc.arg(current_hash), sqlc.arg(now)::timestamptz, sqlc.arg(now)::timestamptz,
        sqlc.arg(idle_expires_at), sqlc.arg(expires_at), sqlc.arg(user_agent), sqlc.arg(client_addr),
        2, sqlc.arg(amr)::text[], sqlc.arg(now)::timestamptz)
RETURNING *;

-- name: CreateLoginSession :one
-- A login's session, created only if the user's password hash is still the
-- one the login compared. FOR SHARE waits for a password change in flight
-- (every one locks the user first) and then sees its hash, so a login that
-- compared the old password while a reset, change or set-password
-- committed gets no row, and the change's revocation cannot miss it.
-- Likewise a user whose second factor was activated meanwhile (the
-- activation locks the user too) gets no password-only session.
INSERT INTO sessions (user_id, current_hash, created_at, last_used_at, idle_expires_at, expires_at, user_agent, client_addr, auth_time)
SELECT u.id, sqlc.arg(current_hash)::bytea, sqlc.arg(now)::timestamptz, sqlc.arg(now)::timestamptz,
       sqlc.arg(idle_expires_at)::timestamptz, sqlc.arg(expires_at)::timestamptz,
       sqlc.arg(user_agent)::text, sqlc.arg(client_addr)::text, sqlc.arg(now)::timestamptz
FROM users u
WHERE u.id = sqlc.arg(user_id) AND u.password_hash = sqlc.arg(password_hash)::text AND NOT u.mfa_enabled
FOR SHARE OF u
RETURNING *;

-- name: GetSessionUser :one
-- The authentication check: the user, if the token's session is theirs and
-- still active. One round trip per authenticated request.
SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.id = sqlc.arg(session_id) AND s.user_id = sqlc.arg(user_id)
  AND s.revoked_at IS NULL AND s.idle_expires_at > sqlc.arg(now)::timestamptz AND s.expires_at > sqlc.arg(now)::timestamptz;

-- name: GetSessionAuth :one
-- GetSessionUser with the session's assurance (aal, amr, auth_time): the
-- authentication check of Service.Authenticate, one round trip.
SELECT sqlc.embed(u), s.aal, s.amr, s.auth_time FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.id = sqlc.arg(session_id) AND s.user_id = sqlc.arg(user_id)
  AND s.revoked_at IS NULL AND s.idle_expires_at > sqlc.arg(now)::timestamptz AND s.expires_at > sqlc.arg(now)::timestamptz;

-- name: ReauthenticateSession :execrows
-- Step-up: the user proved who they are again in this live session.
-- With a second factor (aal 2) the methods gain amr.
UPDATE sessions
SET auth_time = sqlc.arg(now)::timestamptz,
    aal = GREATEST(aal, sqlc.arg(aal)::smallint),
    amr = ARRAY(SELECT DISTINCT unnest(amr || sqlc.arg(amr)::text[]) ORDER BY 1)
WHERE id = sqlc.arg(id) AND user_id = sqlc.arg(user_id)
  AND revoked_at IS NULL AND idle_expires_at > sqlc.arg(now)::timestamptz AND expires_at > sqlc.arg(now)::timestamptz;

-- name: GetSession :one
SELECT * FROM sessions WHERE id = sqlc.arg(id);

-- name: RotateSession :one
-- Advances the session one generation if, and only if, the presented hash is
-- the current one and the session is active. Concurrent callers with the same
-- token race on the row lock; exactly one gets a row back. It returns only
-- what the new tokens carry: every refresh runs it.
UPDATE sessions
SET previous_hash   = current_hash,
    current_hash    = sqlc.arg(next_hash),
    generation      = generation + 1,
    rotated_at      = sqlc.arg(now)::timestamptz,
    last_used_at    = sqlc.arg(now)::timestamptz,
    idle_expires_at = LEAST(sqlc.arg(idle_expires_at)::timestamptz, expires_at)
WHERE id = sqlc.arg(id) AND current_hash = sqlc.arg(presented_hash)
  AND revoked_at IS NULL AND idle_expires_at > sqlc.arg(now)::timestamptz AND expires_at > sqlc.arg(now)::timestamptz
RETURNING id, user_id, generation, idle_expires_at, expires_at, aal, amr, auth_time;

-- name: RotateSessionWithRole :one
-- RotateSession that also returns the user's role, for the role claim
-- (ACCESS_TOKEN_ROLE_CLAIM): still one statement, only with the setting on.
UPDATE sessions
SET previous_hash   = current_hash,
    current_hash    = sqlc.arg(next_hash),
    generation      = generation + 1,
    rotated_at      = sqlc.arg(now)::timestamptz,
    last_used_at    = sqlc.arg(now)::timestamptz,
    idle_expires_at = LEAST(sqlc.arg(idle_expires_at)::timestamptz, expires_at)
WHERE sessions.id = sqlc.arg(id) AND current_hash = sqlc.arg(presented_hash)
  AND revoked_at IS NULL AND idle_expires_at > sqlc.arg(now)::timestamptz AND expires_at > sqlc.arg(now)::timestamptz
RETURNING sessions.id, sessions.user_id, generation, idle_expires_at, expires_at, aal, amr, auth_time,
          (SELECT role FROM users WHERE users.id = sessions.user_id)::text AS role;

-- name: GetUserRole :one
-- The role of a user, for the role claim of a token issued without a
-- rotation (a refresh within the reuse grace).
SELECT role FROM users WHERE id = sqlc.arg(id);

-- name: RevokeSession :many
-- Ends one session; returns its id if it was not ended before.
UPDATE sessions SET revoked_at = sqlc.arg(now)::timestamptz, revoked_reason = sqlc.arg(reason)::text
WHERE id = sqlc.arg(id) AND user_id = sqlc.arg(user_id) AND revoked_at IS NULL
RETURNING id;

-- name: RevokeUserSessions :many
-- Ends every active session of a user, except one when except_id is given,
-- and returns the ids of those it ended.
UPDATE sessions SET revoked_at = sqlc.arg(now)::timestamptz, revoked_reason = sqlc.arg(reason)::text
WHERE user_id = sqlc.arg(user_id) AND revoked_at IS NULL
  AND (sqlc.narg(except_id)::uuid IS NULL OR id <> sqlc.narg(except_id)::uuid)
RETURNING id;

-- name: ListUserSessions :many
SELECT * FROM sessions
WHERE user_id = sqlc.arg(user_id) AND revoked_at IS NULL
  AND idle_expires_at > sqlc.arg(now)::timestamptz AND expires_at > sqlc.arg(now)::timestamptz
ORDER BY last_used_at DESC, id
LIMIT 100;

-- name: CountLiveUserSessions :one
-- The sessions of a user that still work (authd user show), along
-- sessions_user_id_idx.
SELECT count(*) FROM sessions
WHERE user_id = sqlc.arg(user_id) AND revoked_at IS NULL
  AND idle_expires_at > sqlc.arg(now)::timestamptz AND expires_at > sqlc.arg(now)::timestamptz;

-- name: DeleteExpiredSessions :execrows
-- Removes up to batch_size sessions whose absolute lifetime ended before
-- cutoff, oldest first along sessions_expires_at_idx. A session that idled
-- out goes here too, at the end of its lifetime: idle_expires_at has no
-- index, so that rotations stay HOT (migration 4). SKIP LOCKED lets several
-- replicas run it at once without waiting on each other. = ANY(ARRAY(...))
-- rather than IN (...): the chosen ids are looked up by primary key
-- whatever the table's size or statistics, never joined to a scan of it.
DELETE FROM sessions WHERE id = ANY(ARRAY(
    SELECT d.id FROM sessions d
    WHERE d.expires_at < sqlc.arg(cutoff)::timestamptz
    ORDER BY d.expires_at
    LIMIT sqlc.arg(batch_size)
    FOR UPDATE SKIP LOCKED
));

-- name: DeleteRevokedSessions :execrows
-- Removes up to batch_size sessions revoked before cutoff, along the
-- partial index sessions_revoked_at_idx.
DELETE FROM sessions WHERE id = ANY(ARRAY(
    SELECT d.id FROM sessions d
    WHERE d.revoked_at < sqlc.arg(cutoff)::timestamptz
    ORDER BY d.revoked_at
    LIMIT sqlc.arg(batch_size)
    FOR UPDATE SKIP LOCKED
));
