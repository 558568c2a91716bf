DROP INDEX mail_outbox_user_idx;
ALTER TABLE mail_outbox DROP COLUMN superseded_at;
