-- name: GetLoginThrottle :one
SELECT * FROM login_throttle WHERE email = sqlc.arg(email);

-- name: ReserveLoginAttempt :one
-- Counts a login attempt as a failure before its password is checked, in
-- one statement, and returns the row only if the attempt may go ahead: no
-- row means the email is locked (the attempt is refused and not counted).
-- Concurrent attempts for one email queue on the row lock, so however many
-- run at once, on however many replicas, at most threshold of them go
-- ahead before the first lock and one per lock window after it. A success
-- deletes the row (ClearLoginFailures).
-- From the threshold on, an attempt locks the email for
-- base_lock * 2^(failures - threshold) seconds, at most max_lock seconds.
-- Counting starts again after reset_after of quiet: no attempt and no lock
-- for that long. The exponent stops at 40 and the count at 1,000,000, so
-- neither can overflow however long an attack goes on.
INSERT INTO login_throttle AS t (email, failures, last_failure_at, locked_until)
VALUES (sqlc.arg(email), 1, sqlc.arg(now)::timestamptz,
        CASE WHEN sqlc.arg(threshold)::int <= 1
             THEN sqlc.arg(now)::timestamptz + make_interval(secs => sqlc.arg(base_lock)::float8) END)
ON CONFLICT (email) DO UPDATE SET
    failures = CASE WHEN GREATEST(t.last_failure_at, COALESCE(t.locked_until, t.last_failure_at))
                         < sqlc.arg(now)::timestamptz - make_interval(secs => sqlc.arg(reset_after)::float8)
                    THEN 1 ELSE LEAST(t.failures + 1, 1000000) END,
    last_failure_at = EXCLUDED.last_failure_at,
    locked_until = CASE
        WHEN GREATEST(t.last_failure_at, COALESCE(t.locked_until, t.last_failure_at))
             < sqlc.arg(now)::timestamptz - make_interval(secs => sqlc.arg(reset_after)::float8)
        THEN EXCLUDED.locked_until
        WHEN t.failures + 1 >= sqlc.arg(threshold)::int
        THEN sqlc.arg(now)::timestamptz + make_interval(secs => LEAST(sqlc.arg(max_lock)::float8,
             sqlc.arg(base_lock)::float8 * power(2, LEAST(t.failures + 1 - sqlc.arg(threshold)::int, 40))))
        END
WHERE t.locked_until IS NULL OR t.locked_until <= sqlc.arg(now)::timestamptz
RETURNING *;

-- name: ClearLoginFailures :exec
DELETE FROM login_throttle WHERE email = sqlc.arg(email);

-- name: DeleteStaleLoginThrottles :execrows
DELETE FROM login_throttle WHERE last_failure_at < sqlc.arg(cutoff)::timestamptz
  AND (locked_until IS NULL OR locked_until < sqlc.arg(cutoff)::timestamptz);

-- name: UndoLoginAttempt :exec
-- Takes back one attempt that ReserveLoginAttempt counted but whose password
-- was never compared (the hashing queue refused it): one failure fewer, and
-- no lock unless the failures left still reach the threshold.
UPDATE login_throttle
SET failures = GREATEST(failures - 1, 0),
    locked_until = CASE WHEN failures - 1 >= sqlc.arg(threshold)::int THEN locked_until END
WHERE email = sqlc.arg(email);
