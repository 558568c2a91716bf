-- Passkeys (WebAuthn credentials), several per user. Only public keys are
-- stored: nothing here lets anyone sign in. credential_id is unique across
-- all users (WebAuthn §7.1 step 22: a credential registered twice is
-- refused). sign_count is the last signature counter accepted;
-- counter_regressions counts assertions whose counter did not go up (a
-- cloned authenticator). backup_eligible and backup_state are the BE and
-- BS flags (a synced passkey).
CREATE TABLE passkeys (
    id                  uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id             uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id       bytea       NOT NULL,
    public_key          bytea       NOT NULL,
    attestation_type    text        NOT NULL,
    aaguid              bytea       NOT NULL,
    sign_count          bigint      NOT NULL,
    transports          text[]      NOT NULL DEFAULT '{}',
    backup_eligible     boolean     NOT NULL,
    backup_state        boolean     NOT NULL,
    name                text        NOT NULL,
    created_at          timestamptz NOT NULL,
    last_used_at        timestamptz,
    counter_regressions integer     NOT NULL DEFAULT 0,
    CONSTRAINT passkeys_credential_id_key UNIQUE (credential_id),
    CONSTRAINT passkeys_credential_id_size CHECK (octet_length(credential_id) BETWEEN 16 AND 1023),
    CONSTRAINT passkeys_name_size CHECK (char_length(name) BETWEEN 1 AND 64)
);

CREATE INDEX passkeys_user_id_idx ON passkeys (user_id);

-- WebAuthn challenges are one-time secrets: one purpose per ceremony, the
-- SHA-256 of the challenge stored, one use each. A passwordless login's
-- challenge is the only secret minted before anyone is known: it alone
-- may have no user.
ALTER TABLE one_time_tokens ALTER COLUMN user_id DROP NOT NULL;
ALTER TABLE one_time_tokens ADD CONSTRAINT one_time_tokens_user_known
    CHECK (user_id IS NOT NULL OR purpose = 'passkey_login');
ALTER TABLE one_time_tokens DROP CONSTRAINT one_time_tokens_purpose_known;
ALTER TABLE one_time_tokens ADD CONSTRAINT one_time_tokens_purpose_known
    CHECK (purpose IN ('verify_email', 'reset_password', 'change_email', 'login_ticket',
                       'passkey_register', 'passkey_login', 'passkey_mfa', 'passkey_reauth'));
