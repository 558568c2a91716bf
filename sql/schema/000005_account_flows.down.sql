DROP TABLE mail_throttle;
DROP TABLE mail_outbox;
DROP TABLE one_time_tokens;
ALTER TABLE users DROP COLUMN password_changed_at, DROP COLUMN email_verified_at;
