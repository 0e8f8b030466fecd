-- A login in one round trip on MySQL/MariaDB (issue 13). PostgreSQL does it in one statement
-- with data-modifying CTEs; MySQL has none, so the same writes sit in a procedure that the
-- store CALLs once instead of sending BEGIN, three to five statements and COMMIT.
--
-- The order is the one every other writer of these rows uses: the session_keys row first
-- (concurrent logins of one identity queue on it), then the user's row, then the new rows.
-- Any error rolls the whole login back and is raised again to the caller unchanged, so the
-- store classifies it (deadlock, lock wait timeout, lost connection) exactly as before.
-- `s_hash` NULL: no session here (with Redis, sessions live there). `f_id` NULL: a login
-- without a sign-in (a new user: no family, no token).
CREATE PROCEDURE wxlogin_record_login(
    IN k_appid   VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN k_openid  VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN k_sealed  BLOB,
    IN k_at      BIGINT,
    IN s_hash    VARBINARY(32),
    IN s_appid   VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN s_openid  VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN s_unionid VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN s_created BIGINT,
    IN s_expires BIGINT,
    IN f_id      VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN f_user    VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN f_appid   VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN f_created BIGINT,
    IN t_hash    VARBINARY(32),
    IN t_created BIGINT,
    IN t_expires BIGINT
)
MODIFIES SQL DATA
BEGIN
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        RESIGNAL;
    END;
    START TRANSACTION;
    INSERT INTO session_keys (appid, openid, current_sealed, previous_sealed, rotated_at)
    VALUES (k_appid, k_openid, k_sealed, NULL, k_at)
    ON DUPLICATE KEY UPDATE
        previous_sealed = current_sealed,
        current_sealed = VALUES(current_sealed),
        rotated_at = VALUES(rotated_at);
    IF s_hash IS NOT NULL THEN
        INSERT INTO sessions (hash, appid, openid, unionid, created_at, expires_at)
        VALUES (s_hash, s_appid, s_openid, s_unionid, s_created, s_expires);
    END IF;
    IF f_id IS NOT NULL THEN
        UPDATE users SET last_login_at = k_at WHERE id = f_user;
        INSERT INTO refresh_families (id, user_id, appid, created_at)
        VALUES (f_id, f_user, f_appid, f_created);
        INSERT INTO refresh_tokens (hash, family_id, created_at, expires_at)
        VALUES (t_hash, f_id, t_created, t_expires);
    END IF;
    COMMIT;
END;
