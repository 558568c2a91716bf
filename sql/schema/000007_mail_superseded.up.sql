-- A change that ends an account's links (a new password, a confirmed
-- address) also ends the account's link mails not sent yet: they fail, and
-- superseded_at keeps any retry from sending them again. The index finds an
-- account's unsent and failed mails.
ALTER TABLE mail_outbox ADD COLUMN superseded_at timestamptz;

CREATE INDEX mail_outbox_user_idx ON mail_outbox (user_id) WHERE status IN ('pending', 'sending', 'failed');
