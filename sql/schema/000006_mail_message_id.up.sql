-- Each mail's Message-ID: 128 bits drawn when the mail is queued (of which
-- a UUID's 122 are random), kept across attempts, so that no header carries
-- the outbox id or the time a mail was queued (they told how many mails
-- were queued between two of one's own). The default also serves binaries
-- of the previous version during an upgrade.
ALTER TABLE mail_outbox
    ADD COLUMN message_id text NOT NULL DEFAULT replace(gen_random_uuid()::text, '-', ''),
    ADD CONSTRAINT mail_outbox_message_id_hex CHECK (message_id ~ '^[0-9a-f]{32}$');
