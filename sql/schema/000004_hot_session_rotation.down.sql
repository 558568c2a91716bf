ALTER TABLE sessions RESET (fillfactor);
CREATE INDEX IF NOT EXISTS sessions_idle_expires_at_idx ON sessions (idle_expires_at);
