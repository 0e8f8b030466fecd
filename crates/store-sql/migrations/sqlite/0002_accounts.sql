-- Accounts, administration and events (the admin API, the outbox, webhooks, the lookup hook
-- and imports). Same version in migrations/{sqlite,postgres,mysql}/.

ALTER TABLE users ADD COLUMN external_id TEXT;      -- the operator's id, unique when set
ALTER TABLE users ADD COLUMN disabled_at INTEGER;   -- set while an operator has disabled them
ALTER TABLE users ADD COLUMN last_login_at INTEGER;

CREATE UNIQUE INDEX users_external_id ON users (external_id) WHERE external_id IS NOT NULL;

-- The admin search by openid (any app) and the sessions of a user's identities, which
-- disabling, deleting and unbinding delete: without these, each is a scan of the table.
CREATE INDEX identities_openid ON identities (openid);
CREATE INDEX sessions_identity ON sessions (appid, openid);

-- What a deleted account leaves: its id and when.
CREATE TABLE deleted_users (
    id         TEXT    NOT NULL PRIMARY KEY,
    deleted_at INTEGER NOT NULL
) STRICT;

-- Admin keys: only the SHA-256 of the key (256 random bits).
CREATE TABLE admin_keys (
    id         TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    hash       BLOB    NOT NULL UNIQUE,
    scopes     TEXT    NOT NULL,                    -- space-separated
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;

-- One row: the last event sequence number. Every transaction that writes events takes the
-- next numbers from it with an UPDATE, which holds the row until commit, so events are
-- numbered in commit order and a reader paging by seq never skips one that commits late.
CREATE TABLE event_seq (
    id INTEGER NOT NULL PRIMARY KEY,
    n  INTEGER NOT NULL
) STRICT;

INSERT INTO event_seq (id, n) VALUES (1, 0);

-- The outbox. No phone number is stored; openid and unionid are erased when the user is
-- deleted.
CREATE TABLE events (
    seq         INTEGER NOT NULL PRIMARY KEY,
    id          TEXT    NOT NULL UNIQUE,            -- evt_…
    type        TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,                   -- no foreign key: events outlive users
    external_id TEXT,
    appid       TEXT,
    openid      TEXT,
    unionid     TEXT,
    source      TEXT,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX events_user_id ON events (user_id, seq);
CREATE INDEX events_created_at ON events (created_at);

-- Per webhook endpoint: the last event seq fanned out to it.
CREATE TABLE webhook_cursors (
    endpoint TEXT    NOT NULL PRIMARY KEY,
    last_seq INTEGER NOT NULL
) STRICT;

CREATE TABLE webhook_deliveries (
    endpoint        TEXT    NOT NULL,
    event_seq       INTEGER NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
    status          TEXT    NOT NULL,               -- pending, delivered, dead
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER,                        -- pending: due at; claimed: lease end
    last_error      TEXT,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (endpoint, event_seq)
) STRICT;

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_seq);
