-- Consecutive failed logins per email (known or not, so the throttle tells
-- nothing about which accounts exist). Shared by every replica.
CREATE TABLE login_throttle (
    email           text        PRIMARY KEY,
    failures        integer     NOT NULL,
    last_failure_at timestamptz NOT NULL,
    locked_until    timestamptz
);

CREATE INDEX login_throttle_last_failure_at_idx ON login_throttle (last_failure_at);
