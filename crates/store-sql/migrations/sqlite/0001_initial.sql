-- wxlogin's first schema, SQLite flavour.
--
-- Immutable once merged: sqlx checksums applied migrations, so fix forward with a new file,
-- and land every schema change with the same version in migrations/{sqlite,postgres,mysql}/.
--
-- Times are INTEGER unix seconds (UTC). Hashes of handles and sealed values are BLOBs; no
-- handle, token, phone or session_key is ever stored in clear. STRICT makes SQLite reject a
-- value of the wrong type instead of storing it anyway.

CREATE TABLE users (
    id           TEXT    NOT NULL PRIMARY KEY,
    phone_hash   BLOB    NOT NULL UNIQUE,          -- PhoneIndex::hash, keyed HMAC
    phone_sealed BLOB    NOT NULL,                 -- context phone:<id>
    nickname     TEXT,
    avatar_url   TEXT,
    created_at   INTEGER NOT NULL
) STRICT;

-- One row per (appid, openid); binding moves the row to another user.
CREATE TABLE identities (
    appid      TEXT    NOT NULL,
    openid     TEXT    NOT NULL,
    unionid    TEXT,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (appid, openid)
) STRICT;

CREATE INDEX identities_unionid ON identities (unionid) WHERE unionid IS NOT NULL;
CREATE INDEX identities_user_id ON identities (user_id);

CREATE TABLE registration_tickets (
    hash         BLOB    NOT NULL PRIMARY KEY,     -- SHA-256 of the ticket handle
    appid        TEXT    NOT NULL,
    openid       TEXT    NOT NULL,
    unionid      TEXT,
    phone_sealed BLOB    NOT NULL,                 -- context ticket-phone:<hex hash>
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER
) STRICT;

CREATE INDEX registration_tickets_expires_at ON registration_tickets (expires_at);

CREATE TABLE sessions (
    hash       BLOB    NOT NULL PRIMARY KEY,       -- SHA-256 of the session handle
    appid      TEXT    NOT NULL,
    openid     TEXT    NOT NULL,
    unionid    TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE session_keys (
    appid           TEXT    NOT NULL,
    openid          TEXT    NOT NULL,
    current_sealed  BLOB    NOT NULL,              -- context session_key:<appid>:<openid>
    previous_sealed BLOB,
    rotated_at      INTEGER NOT NULL,
    PRIMARY KEY (appid, openid)
) STRICT;

CREATE TABLE refresh_families (
    id         TEXT    NOT NULL PRIMARY KEY,       -- the sid claim
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    appid      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;

CREATE INDEX refresh_families_user_id ON refresh_families (user_id);

CREATE TABLE refresh_tokens (
    hash       BLOB    NOT NULL PRIMARY KEY,       -- SHA-256 of the refresh token
    family_id  TEXT    NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;

CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

-- generation is UNIQUE so that instances starting together on an empty database elect one
-- first key: every insert but one finds its generation taken.
CREATE TABLE signing_keys (
    kid            TEXT    NOT NULL PRIMARY KEY,
    generation     INTEGER NOT NULL UNIQUE,
    public_key     BLOB    NOT NULL,               -- raw Ed25519, 32 bytes
    private_sealed BLOB    NOT NULL,               -- PKCS#8, context signing-key:<kid>
    created_at     INTEGER NOT NULL
) STRICT;
