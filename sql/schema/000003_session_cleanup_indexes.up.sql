-- The background clean-up deletes sessions past their absolute expiry or
-- revoked long ago; without these it scans the whole table.
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
CREATE INDEX sessions_revoked_at_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
