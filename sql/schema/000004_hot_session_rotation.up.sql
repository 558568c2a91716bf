-- Every refresh rewrites its session row. With idle_expires_at indexed, no
-- such update could be HOT (heap-only: no new index entries), so each one
-- added an entry to all five indexes and left as many dead ones behind.
-- Without that index, and with room left on each page for the next
-- version, rotations stay on their page and touch no index. The clean-up
-- finds ended sessions through expires_at and revoked_at instead: a
-- session that idled out is deleted when its absolute lifetime ends.
DROP INDEX IF EXISTS sessions_idle_expires_at_idx;
ALTER TABLE sessions SET (fillfactor = 80);
