-- Accounts, administration and events (the admin API, the outbox, webhooks, the lookup hook
-- and imports). Same version in migrations/{sqlite,postgres,mysql}/; the comments there
-- explain each table. Text is utf8mb4_bin as in 0001, except the nickname search, which
-- uses LIKE on the binary collation (case-sensitive, as on SQLite and PostgreSQL).

ALTER TABLE users
    ADD COLUMN external_id   VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    ADD COLUMN disabled_at   BIGINT,
    ADD COLUMN last_login_at BIGINT,
    ADD UNIQUE KEY users_external_id (external_id);

-- The admin search by openid (any app) and the sessions of a user's identities, which
-- disabling, deleting and unbinding delete: without these, each is a scan of the table.
CREATE INDEX identities_openid ON identities (openid);
CREATE INDEX sessions_identity ON sessions (appid, openid);

CREATE TABLE deleted_users (
    id         VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    deleted_at BIGINT NOT NULL,
    PRIMARY KEY (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE admin_keys (
    id         VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    name       VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    hash       VARBINARY(32) NOT NULL,
    scopes     VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    PRIMARY KEY (id),
    UNIQUE KEY admin_keys_hash (hash)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE event_seq (
    id INT NOT NULL,
    n  BIGINT NOT NULL,
    PRIMARY KEY (id)
) ENGINE = InnoDB;

INSERT INTO event_seq (id, n) VALUES (1, 0);

CREATE TABLE events (
    seq         BIGINT NOT NULL,
    id          VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    type        VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    user_id     VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    external_id VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    appid       VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    openid      VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    unionid     VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    source      VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (seq),
    UNIQUE KEY events_id (id),
    KEY events_user_id (user_id, seq),
    KEY events_created_at (created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE webhook_cursors (
    endpoint VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    last_seq BIGINT NOT NULL,
    PRIMARY KEY (endpoint)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE webhook_deliveries (
    endpoint        VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    event_seq       BIGINT NOT NULL,
    status          VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    attempts        INT NOT NULL,
    next_attempt_at BIGINT,
    last_error      VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (endpoint, event_seq),
    KEY webhook_deliveries_due (status, next_attempt_at),
    KEY webhook_deliveries_event (event_seq),
    CONSTRAINT webhook_deliveries_event_fk FOREIGN KEY (event_seq) REFERENCES events (seq)
        ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
