-- name: GetLoginThrottle :one
SELECT * FROM login_throttle WHERE email = sqlc.arg(email);

-- name: RecordLoginFailure :one
-- Counts one more consecutive failure and, from the threshold on, locks the
-- email for base_lock * 2^(failures - threshold) seconds, at most max_lock
-- seconds. Counting starts again after reset_after of quiet: no failure and
-- no lock for that long. The exponent stops at 40 and the count at
-- 1,000,000, so neither can overflow however long an attack goes on.
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
             >= sqlc.arg(now)::timestamptz - make_interval(secs => sqlc.arg(reset_after)::float8)
         AND t.failures + 1 >= sqlc.arg(threshold)::int
        THEN sqlc.arg(now)::timestamptz + make_interval(secs => LEAST(sqlc.arg(max_lock)::float8,
             sqlc.arg(base_lock)::float8 * power(2, LEAST(t.failures + 1 - sqlc.arg(threshold)::int, 40))))
        END
RETURNING *;

-- name: ClearLoginFailures :exec
DELETE FROM login_throttle WHERE email = sqlc.arg(email);

-- name: DeleteStaleLoginThrottles :execrows
DELETE FROM login_throttle WHERE last_failure_at < sqlc.arg(cutoff)::timestamptz
  AND (locked_until IS NULL OR locked_until < sqlc.arg(cutoff)::timestamptz);
