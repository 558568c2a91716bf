-- name: IsKnownDevice :one
-- Whether the device whose cookie hashes to device_hash is known for the
-- account of email: it then keeps a login throttle budget of its own.
SELECT EXISTS (
    SELECT 1 FROM known_devices d JOIN users u ON u.id = d.user_id
    WHERE u.email = sqlc.arg(email) AND d.device_hash = sqlc.arg(device_hash)
) AS known;

-- name: TouchKnownDevice :execrows
-- Records a sign-in from a device known for user: one row, or none for a
-- device new for the user (then SeeDevice, in a transaction).
UPDATE known_devices
SET last_seen_at = GREATEST(last_seen_at, sqlc.arg(now)::timestamptz),
    user_agent   = sqlc.arg(user_agent),
    client_addr  = sqlc.arg(client_addr)
WHERE user_id = sqlc.arg(user_id) AND device_hash = sqlc.arg(device_hash);

-- name: SeeDevice :one
-- Records a sign-in of user from a device: a new row, or the known row's
-- last sighting. inserted tells a device new for the user; others whether
-- the user had any other device before (the statement's snapshot). The
-- caller holds the user's row lock (LockUser), so of two first sign-ins
-- at once the second sees the first.
WITH others AS (
    SELECT EXISTS (SELECT 1 FROM known_devices
                   WHERE user_id = sqlc.arg(user_id) AND device_hash <> sqlc.arg(device_hash)) AS other
)
INSERT INTO known_devices AS d (user_id, device_hash, first_seen_at, last_seen_at, user_agent, client_addr)
VALUES (sqlc.arg(user_id), sqlc.arg(device_hash), sqlc.arg(now)::timestamptz, sqlc.arg(now)::timestamptz,
        sqlc.arg(user_agent), sqlc.arg(client_addr))
ON CONFLICT (user_id, device_hash) DO UPDATE SET
    last_seen_at = GREATEST(d.last_seen_at, EXCLUDED.last_seen_at),
    user_agent   = EXCLUDED.user_agent,
    client_addr  = EXCLUDED.client_addr
RETURNING (xmax = 0)::bool AS inserted, (SELECT other FROM others)::bool AS others;

-- name: PruneKnownDevices :execrows
-- Keeps the keep most recently seen devices of user and deletes the rest.
DELETE FROM known_devices AS d
WHERE d.user_id = sqlc.arg(user_id) AND d.device_hash IN (
    SELECT k.device_hash FROM known_devices AS k
    WHERE k.user_id = sqlc.arg(user_id)
    ORDER BY k.last_seen_at DESC, k.first_seen_at DESC
    OFFSET sqlc.arg(keep)::int
);

-- name: CountKnownDevices :one
SELECT count(*) FROM known_devices WHERE user_id = sqlc.arg(user_id);

-- name: ForgetKnownDevices :execrows
-- A password reset's end of the account's known devices: one that an
-- attacker made known (with the old password) keeps no budget of its own.
DELETE FROM known_devices WHERE user_id = sqlc.arg(user_id);
