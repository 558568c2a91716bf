DROP INDEX IF EXISTS sessions_revoked_at_idx;
DROP INDEX IF EXISTS sessions_expires_at_idx;
