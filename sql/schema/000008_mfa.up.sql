-- Second factors: TOTP now, passkeys later. No secret is stored in clear:
-- a TOTP secret is sealed with AES-GCM under a key of MFA_ENCRYPTION_KEYS
-- (key_id names it, for rotation), with the row id and the user id as
-- associated data; a recovery code and a login ticket are kept only as
-- SHA-256 hashes.

-- mfa_enabled mirrors "has an active factor", set in the transaction that
-- activates or removes one, so that a login reads it with the user it
-- already loads: a login without MFA costs no extra statement.
ALTER TABLE users ADD COLUMN mfa_enabled boolean NOT NULL DEFAULT false;

-- One row per factor. A TOTP factor is pending until a code proves it.
-- last_step is the last accepted time step: a code is accepted by one
-- UPDATE ... WHERE last_step IS NULL OR last_step < step, so a step is
-- accepted at most once (RFC 6238 section 5.2).
CREATE TABLE mfa_factors (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         text        NOT NULL,
    status       text        NOT NULL DEFAULT 'pending',
    secret       bytea       NOT NULL,
    key_id       text        NOT NULL,
    last_step    bigint,
    created_at   timestamptz NOT NULL,
    activated_at timestamptz,
    CONSTRAINT mfa_factors_kind_known CHECK (kind IN ('totp', 'webauthn')),
    CONSTRAINT mfa_factors_status_known CHECK (status IN ('pending', 'active'))
);

-- At most one TOTP factor per user, pending or active.
CREATE UNIQUE INDEX mfa_factors_one_totp ON mfa_factors (user_id) WHERE kind = 'totp';
CREATE INDEX mfa_factors_user_id_idx ON mfa_factors (user_id);

-- Recovery codes: the SHA-256 of each code's normalised form; one use each
-- (UPDATE ... SET used_at WHERE used_at IS NULL).
CREATE TABLE mfa_recovery_codes (
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (user_id, code_hash),
    CONSTRAINT mfa_recovery_codes_hash_size CHECK (octet_length(code_hash) = 32)
);

-- The per-account throttle of second-factor codes: its own counter,
-- separate from login_throttle, so that a password flood cannot lock the
-- second factor and a fresh login does not refill the code budget.
CREATE TABLE mfa_throttle (
    user_id         uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    failures        integer     NOT NULL,
    last_failure_at timestamptz NOT NULL,
    locked_until    timestamptz
);

-- The assurance of a session: aal 1 (password) or 2 (password and a
-- second factor), the RFC 8176 methods, and when the user last proved
-- who they are (login or reauthentication).
ALTER TABLE sessions
    ADD COLUMN aal       smallint    NOT NULL DEFAULT 1,
    ADD COLUMN amr       text[]      NOT NULL DEFAULT '{pwd}',
    ADD COLUMN auth_time timestamptz,
    ADD CONSTRAINT sessions_aal_known CHECK (aal IN (1, 2));

UPDATE sessions SET auth_time = created_at;
ALTER TABLE sessions ALTER COLUMN auth_time SET NOT NULL;

-- Login tickets are one-time secrets too; a few wrong codes end one.
ALTER TABLE one_time_tokens ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE one_time_tokens DROP CONSTRAINT one_time_tokens_purpose_known;
ALTER TABLE one_time_tokens ADD CONSTRAINT one_time_tokens_purpose_known
    CHECK (purpose IN ('verify_email', 'reset_password', 'change_email', 'login_ticket'));
