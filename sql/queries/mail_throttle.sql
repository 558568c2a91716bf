-- name: TakeMailAllowance :one
-- Counts a mail-sending request for an address and purpose, and says
-- whether a mail may go out: not within cooldown of the last one, and at
-- most max_per_window per window. Any address gets a row, registered or
-- not, so the work done is the same.
INSERT INTO mail_throttle AS t (email, purpose, last_sent_at, window_start, sent)
VALUES (sqlc.arg(email), sqlc.arg(purpose), sqlc.arg(now)::timestamptz, sqlc.arg(now)::timestamptz, 1)
ON CONFLICT (email, purpose) DO UPDATE SET
    window_start = CASE WHEN t.window_start <= sqlc.arg(now)::timestamptz - make_interval(secs => sqlc.arg(window_secs)::float8)
                        THEN sqlc.arg(now)::timestamptz ELSE t.window_start END,
    sent = CASE WHEN t.window_start <= sqlc.arg(now)::timestamptz - make_interval(secs => sqlc.arg(window_secs)::float8)
                THEN 1 ELSE t.sent + 1 END,
    last_sent_at = sqlc.arg(now)::timestamptz
WHERE t.last_sent_at <= sqlc.arg(now)::timestamptz - make_interval(secs => sqlc.arg(cooldown_secs)::float8)
  AND (t.sent < sqlc.arg(max_per_window)::int
       OR t.window_start <= sqlc.arg(now)::timestamptz - make_interval(secs => sqlc.arg(window_secs)::float8))
RETURNING sent;

-- name: DeleteStaleMailThrottles :execrows
DELETE FROM mail_throttle WHERE last_sent_at < sqlc.arg(cutoff)::timestamptz;
