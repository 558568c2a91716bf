-- The security event log: what happened to an account, written by the
-- domain (internal/session) in the transaction of the change itself, so an
-- event is there exactly when its change is. user_id has no foreign key: a
-- deleted user's history stays until retention (EVENT_RETENTION) deletes
-- it, in batches by created_at. Nothing here is a secret: no password,
-- token, code or cookie; request_id, client_addr and user_agent are
-- bounded by the constraints.
CREATE TABLE security_events (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at  timestamptz NOT NULL,
    name        text        NOT NULL,
    user_id     uuid,
    session_id  uuid,
    actor       text        NOT NULL,
    request_id  text        NOT NULL DEFAULT '',
    client_addr text        NOT NULL DEFAULT '',
    user_agent  text        NOT NULL DEFAULT '',
    data        jsonb       NOT NULL DEFAULT '{}',
    CONSTRAINT security_events_bounded CHECK (
        length(name) <= 64 AND length(actor) <= 128 AND length(request_id) <= 64
        AND length(client_addr) <= 64 AND length(user_agent) <= 256)
);

-- A user's history, newest first (GET /api/users/me/security-events,
-- authd events --user).
CREATE INDEX security_events_user_idx ON security_events (user_id, id DESC) WHERE user_id IS NOT NULL;
-- Retention and authd events --since: rows arrive in created_at order.
CREATE INDEX security_events_created_at_idx ON security_events USING brin (created_at);

-- Webhook deliveries: one row per event and endpoint that wants it,
-- written with the event (same statement), so a delivery is never lost
-- to a crash. A sender claims due rows (FOR UPDATE SKIP LOCKED) under a
-- lease (locked_until) and posts outside any transaction, like the mail
-- outbox. The payload is built from the event row at each attempt.
CREATE TABLE webhook_deliveries (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        bigint      NOT NULL REFERENCES security_events (id) ON DELETE CASCADE,
    endpoint        text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending',
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    locked_until    timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL,
    delivered_at    timestamptz,
    CONSTRAINT webhook_deliveries_status_known CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
    CONSTRAINT webhook_deliveries_endpoint_bounded CHECK (length(endpoint) <= 64)
);

CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id);
CREATE INDEX webhook_deliveries_done_idx ON webhook_deliveries (created_at) WHERE status IN ('delivered', 'failed');

-- Per-endpoint health, shared by the replicas: after repeated failures an
-- endpoint is paused (paused_until) and its deliveries wait, never dropped.
CREATE TABLE webhook_endpoints (
    endpoint        text        PRIMARY KEY,
    failures        integer     NOT NULL DEFAULT 0,
    paused_until    timestamptz,
    last_error      text,
    updated_at      timestamptz NOT NULL
);
