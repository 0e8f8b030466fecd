-- wxlogin's first schema, MySQL 8 / MariaDB 10.6+ flavour: the same tables, columns and
-- constraints as migrations/sqlite/0001_initial.sql.
--
-- Immutable once merged: sqlx checksums applied migrations, so fix forward with a new file,
-- and land every schema change with the same version in migrations/{sqlite,postgres,mysql}/.
--
-- Times are BIGINT unix seconds (UTC). Hashes are VARBINARY(32) (SHA-256 or HMAC-SHA-256),
-- sealed values BLOB; no handle, token, phone or session_key is ever stored in clear.
--
-- Text is utf8mb4 with the binary collation: ids from WeChat are case-sensitive, and a
-- case-insensitive collation would make `oAbC` and `oabc` one primary key. VARCHAR lengths are
-- bounded so that every index fits InnoDB's 3072-byte key limit (4 bytes per character):
-- lengths are the most core's newtypes allow (appid 64, openid and unionid 128, user id 64);
-- family ids and kids get 128.
-- DDL commits implicitly in MySQL, so this file is not atomic; sqlx records it as dirty if it
-- fails half way, and an operator has to look.

CREATE TABLE users (
    id           VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    phone_hash   VARBINARY(32) NOT NULL,           -- PhoneIndex::hash, keyed HMAC
    phone_sealed BLOB NOT NULL,                    -- context phone:<id>
    nickname     VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    avatar_url   TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY users_phone_hash (phone_hash)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One row per (appid, openid); binding moves the row to another user.
CREATE TABLE identities (
    appid      VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    openid     VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    unionid    VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    user_id    VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (appid, openid),
    KEY identities_unionid (unionid),
    KEY identities_user_id (user_id),
    CONSTRAINT identities_user_id_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE registration_tickets (
    hash         VARBINARY(32) NOT NULL,           -- SHA-256 of the ticket handle
    appid        VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    openid       VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    unionid      VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    phone_sealed BLOB NOT NULL,                    -- context ticket-phone:<hex hash>
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT,
    PRIMARY KEY (hash),
    KEY registration_tickets_expires_at (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE sessions (
    hash       VARBINARY(32) NOT NULL,             -- SHA-256 of the session handle
    appid      VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    openid     VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    unionid    VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (hash),
    KEY sessions_expires_at (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE session_keys (
    appid           VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    openid          VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    current_sealed  BLOB NOT NULL,                 -- context session_key:<appid>:<openid>
    previous_sealed BLOB,
    rotated_at      BIGINT NOT NULL,
    PRIMARY KEY (appid, openid)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE refresh_families (
    id         VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, -- the sid claim
    user_id    VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    appid      VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    PRIMARY KEY (id),
    KEY refresh_families_user_id (user_id),
    CONSTRAINT refresh_families_user_id_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE refresh_tokens (
    hash       VARBINARY(32) NOT NULL,             -- SHA-256 of the refresh token
    family_id  VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (hash),
    KEY refresh_tokens_family_id (family_id),
    KEY refresh_tokens_expires_at (expires_at),
    CONSTRAINT refresh_tokens_family_id_fk FOREIGN KEY (family_id) REFERENCES refresh_families (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- generation is UNIQUE so that instances starting together on an empty database elect one
-- first key: every insert but one finds its generation taken.
CREATE TABLE signing_keys (
    kid            VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    generation     BIGINT NOT NULL,
    public_key     VARBINARY(64) NOT NULL,         -- raw Ed25519, 32 bytes
    private_sealed BLOB NOT NULL,                  -- PKCS#8, context signing-key:<kid>
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (kid),
    UNIQUE KEY signing_keys_generation (generation)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
