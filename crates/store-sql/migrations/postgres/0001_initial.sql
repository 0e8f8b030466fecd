-- wxlogin's first schema, PostgreSQL flavour: the same tables, columns and constraints as
-- migrations/sqlite/0001_initial.sql.
--
-- Immutable once merged: sqlx checksums applied migrations, so fix forward with a new file,
-- and land every schema change with the same version in migrations/{sqlite,postgres,mysql}/.
--
-- Times are BIGINT unix seconds (UTC). Hashes of handles and sealed values are BYTEA; no
-- handle, token, phone or session_key is ever stored in clear. Tables are created unqualified,
-- in the first schema of the connection's search_path.

CREATE TABLE users (
    id           TEXT   NOT NULL PRIMARY KEY,
    phone_hash   BYTEA  NOT NULL,                  -- PhoneIndex::hash, keyed HMAC
    phone_sealed BYTEA  NOT NULL,                  -- context phone:<id>
    nickname     TEXT,
    avatar_url   TEXT,
    created_at   BIGINT NOT NULL,
    CONSTRAINT users_phone_hash_key UNIQUE (phone_hash)
);

-- One row per (appid, openid); binding moves the row to another user.
CREATE TABLE identities (
    appid      TEXT   NOT NULL,
    openid     TEXT   NOT NULL,
    unionid    TEXT,
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (appid, openid)
);

CREATE INDEX identities_unionid ON identities (unionid) WHERE unionid IS NOT NULL;
CREATE INDEX identities_user_id ON identities (user_id);

CREATE TABLE registration_tickets (
    hash         BYTEA  NOT NULL PRIMARY KEY,      -- SHA-256 of the ticket handle
    appid        TEXT   NOT NULL,
    openid       TEXT   NOT NULL,
    unionid      TEXT,
    phone_sealed BYTEA  NOT NULL,                  -- context ticket-phone:<hex hash>
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT
);

CREATE INDEX registration_tickets_expires_at ON registration_tickets (expires_at);

CREATE TABLE sessions (
    hash       BYTEA  NOT NULL PRIMARY KEY,        -- SHA-256 of the session handle
    appid      TEXT   NOT NULL,
    openid     TEXT   NOT NULL,
    unionid    TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE session_keys (
    appid           TEXT   NOT NULL,
    openid          TEXT   NOT NULL,
    current_sealed  BYTEA  NOT NULL,               -- context session_key:<appid>:<openid>
    previous_sealed BYTEA,
    rotated_at      BIGINT NOT NULL,
    PRIMARY KEY (appid, openid)
);

CREATE TABLE refresh_families (
    id         TEXT   NOT NULL PRIMARY KEY,        -- the sid claim
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    appid      TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE INDEX refresh_families_user_id ON refresh_families (user_id);

CREATE TABLE refresh_tokens (
    hash       BYTEA  NOT NULL PRIMARY KEY,        -- SHA-256 of the refresh token
    family_id  TEXT   NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

-- generation is UNIQUE so that instances starting together on an empty database elect one
-- first key: every insert but one finds its generation taken.
CREATE TABLE signing_keys (
    kid            TEXT   NOT NULL PRIMARY KEY,
    generation     BIGINT NOT NULL,
    public_key     BYTEA  NOT NULL,                -- raw Ed25519, 32 bytes
    private_sealed BYTEA  NOT NULL,                -- PKCS#8, context signing-key:<kid>
    created_at     BIGINT NOT NULL,
    CONSTRAINT signing_keys_generation_key UNIQUE (generation)
);
