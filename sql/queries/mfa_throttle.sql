-- name: ReserveMFAAttempt :one
-- Counts a second-factor attempt as a failure before its code is checked,
-- in one statement, as ReserveLoginAttempt does for passwords (so it holds
-- under any concurrency and across replicas), and returns the row only if
-- the attempt may go ahead. From threshold failures on, a user is locked
-- for base_lock * 2^(failures - threshold) seconds, at most max_lock; from
-- hard_limit consecutive failures on, for hard_lock. Counting starts again
-- only after a success or reset_after of quiet; a new login does not
-- reset it.
INSERT INTO mfa_throttle AS t (user_id, failures, last_failure_at, locked_until)
VALUES (sqlc.arg(user_id), 1, sqlc.arg(now)::timestamptz, NULL)
ON CONFLICT (user_id) DO UPDATE SET
    failures = CASE WHEN GREATEST(t.last_failure_at, COALESCE(t.locked_until, t.last_failure_at))
                         < sqlc.arg(now)::timestamptz - make_interval(secs => sqlc.arg(reset_after)::float8)
                    THEN 1 ELSE LEAST(t.failures + 1, 1000000) END,
    last_failure_at = EXCLUDED.last_failure_at,
    locked_until = CASE
        WHEN GREATEST(t.last_failure_at, COALESCE(t.locked_until, t.last_failure_at))
             < sqlc.arg(now)::timestamptz - make_interval(secs => sqlc.arg(reset_after)::float8)
        THEN NULL
        WHEN t.failures + 1 >= sqlc.arg(hard_limit)::int
        THEN sqlc.arg(now)::timestamptz + make_interval(secs => sqlc.arg(hard_lock)::float8)
        WHEN t.failures + 1 >= sqlc.arg(threshold)::int
        THEN sqlc.arg(now)::timestamptz + make_interval(secs => LEAST(sqlc.arg(max_lock)::float8,
             sqlc.arg(base_lock)::float8 * power(2, LEAST(t.failures + 1 - sqlc.arg(threshold)::int, 40))))
        END
WHERE t.locked_until IS NULL OR t.locked_until <= sqlc.arg(now)::timestamptz
RETURNING *;

-- name: GetMFAThrottle :one
SELECT * FROM mfa_throttle WHERE user_id = sqlc.arg(user_id);

-- name: ClearMFAFailures :exec
DELETE FROM mfa_throttle WHERE user_id = sqlc.arg(user_id);
