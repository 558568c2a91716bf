-- Account flows: email verification, password reset, email change, and the
-- mail outbox that carries their links. No raw token is ever stored: a
-- one-time token is kept as the SHA-256 of its value, and the sender mints
-- it only when it sends the mail.

-- When the address was proven (verified stays, for the tutorial's shape),
-- and when the password last changed.
ALTER TABLE users
    ADD COLUMN email_verified_at   timestamptz,
    ADD COLUMN password_changed_at timestamptz;

-- One-time tokens mailed as links. Each is bound to a purpose, a user and
-- the address it was sent to; consuming one is a single DELETE ...
-- RETURNING, so it is used once under any concurrency.
CREATE TABLE one_time_tokens (
    token_hash bytea       PRIMARY KEY,
    purpose    text        NOT NULL,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      text        NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    CONSTRAINT one_time_tokens_purpose_known CHECK (purpose IN ('verify_email', 'reset_password', 'change_email')),
    CONSTRAINT one_time_tokens_hash_size CHECK (octet_length(token_hash) = 32)
);

CREATE INDEX one_time_tokens_user_purpose_idx ON one_time_tokens (user_id, purpose);
CREATE INDEX one_time_tokens_expires_at_idx ON one_time_tokens (expires_at);

-- Mails to send, written in the same transaction as the change that causes
-- them. A sender claims due rows (FOR UPDATE SKIP LOCKED) under a lease
-- (locked_until) and sends outside any transaction. user_id has no foreign
-- key: an "account deleted" notice outlives its user. data holds what the
-- templates show (a name, an address), never a token.
CREATE TABLE mail_outbox (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text        NOT NULL,
    to_addr         text        NOT NULL,
    user_id         uuid,
    data            jsonb       NOT NULL DEFAULT '{}',
    status          text        NOT NULL DEFAULT 'pending',
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    locked_until    timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz,
    CONSTRAINT mail_outbox_status_known CHECK (status IN ('pending', 'sending', 'sent', 'failed'))
);

-- The sender's scan: due pending rows, and sending rows whose lease ended.
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX mail_outbox_done_idx ON mail_outbox (created_at) WHERE status IN ('sent', 'failed');

-- Per-address cool-down of mail-sending requests, keyed by any normalised
-- address, registered or not, so the work is the same for both.
CREATE TABLE mail_throttle (
    email        text        NOT NULL,
    purpose      text        NOT NULL,
    last_sent_at timestamptz NOT NULL,
    window_start timestamptz NOT NULL,
    sent         integer     NOT NULL,
    PRIMARY KEY (email, purpose)
);

CREATE INDEX mail_throttle_last_sent_at_idx ON mail_throttle (last_sent_at);
