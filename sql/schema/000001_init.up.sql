-- Users. Email is stored normalised (trimmed, lower-cased) by the application;
-- the CHECK keeps anything else out and the unique index is on that form.
CREATE TABLE users (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name          text        NOT NULL,
    email         text        NOT NULL,
    password_hash text        NOT NULL,
    role          text        NOT NULL DEFAULT 'user',
    provider      text        NOT NULL DEFAULT 'local',
    photo         text        NOT NULL DEFAULT '',
    verified      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_normalised CHECK (email = lower(btrim(email)) AND email <> ''),
    CONSTRAINT users_role_known CHECK (role IN ('user', 'admin'))
);

CREATE UNIQUE INDEX users_email_key ON users (email);

-- Sessions: one per login. The refresh token names the session (sid) and one
-- generation of it (jti); only SHA-256 hashes of generation ids are stored.
-- Rotation moves current_hash to previous_hash in one conditional UPDATE.
CREATE TABLE sessions (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    generation      bigint      NOT NULL DEFAULT 0,
    current_hash    bytea       NOT NULL,
    previous_hash   bytea,
    rotated_at      timestamptz,
    created_at      timestamptz NOT NULL,
    last_used_at    timestamptz NOT NULL,
    idle_expires_at timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    revoked_reason  text,
    user_agent      text        NOT NULL DEFAULT '',
    client_addr     text        NOT NULL DEFAULT '',
    CONSTRAINT sessions_idle_within_absolute CHECK (idle_expires_at <= expires_at)
);

CREATE INDEX sessions_user_id_idx ON sessions (user_id);
-- For the background clean-up: sessions past either expiry, or revoked.
CREATE INDEX sessions_idle_expires_at_idx ON sessions (idle_expires_at);
