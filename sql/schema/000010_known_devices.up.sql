-- Devices a user has signed in from: a device is a browser holding the
-- device_id cookie (internal/http), stored here only as the SHA-256 of
-- the cookie's value. A login that creates a session records its device;
-- the first one from a device unknown for the user mails the owner (unless
-- it is the user's first device ever), and a known device keeps a login
-- throttle budget of its own (internal/session/device.go). At most
-- maxKnownDevices rows per user: recording one more deletes the least
-- recently seen.
CREATE TABLE known_devices (
    user_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_hash   bytea       NOT NULL CHECK (octet_length(device_hash) = 32),
    first_seen_at timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    user_agent    text        NOT NULL CHECK (octet_length(user_agent) <= 512),
    client_addr   text        NOT NULL CHECK (octet_length(client_addr) <= 512),
    PRIMARY KEY (user_id, device_hash)
);

CREATE INDEX known_devices_user_last_seen_idx ON known_devices (user_id, last_seen_at DESC);
