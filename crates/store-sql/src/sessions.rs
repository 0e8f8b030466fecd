//! [`SessionStore`] on [`SqlStore`]: session keys, sessions, tickets, and the sign-in
//! record ([`SessionStore::record_login`]; on PostgreSQL one statement).

use async_trait::async_trait;
use time::OffsetDateTime;
use wxlogin_core::crypto::HandleHash;
use wxlogin_core::events::EventType;
use wxlogin_core::ids::{AppId, OpenId, UnionId};
use wxlogin_core::ports::{LoginRecord, SessionKeys, SessionRecord, SessionStore, StoreResult};

use crate::outbox::insert_event;
use crate::refresh::sign_in;
use crate::rows::{self, unix};
use crate::sql::{Arg, Exec, Query, Step, args};
use crate::store::SqlStore;

/// A new current session_key for (appid, openid); the old one becomes `previous`. One
/// statement, so concurrent rotations serialise on the row. SQLite and PostgreSQL evaluate
/// every SET expression against the old row; MySQL assigns left to right, each seeing the
/// ones before, so there `previous_sealed` comes first, while `current_sealed` is still old.
static ROTATE_KEY: Query = Query::new(
    "INSERT INTO session_keys (appid, openid, current_sealed, previous_sealed, rotated_at)
     VALUES (?, ?, ?, NULL, ?)
     ON CONFLICT (appid, openid) DO UPDATE SET
         previous_sealed = session_keys.current_sealed,
         current_sealed = excluded.current_sealed,
         rotated_at = excluded.rotated_at",
)
.mysql(
    "INSERT INTO session_keys (appid, openid, current_sealed, previous_sealed, rotated_at)
     VALUES (?, ?, ?, NULL, ?)
     ON DUPLICATE KEY UPDATE
         previous_sealed = current_sealed,
         current_sealed = VALUES(current_sealed),
         rotated_at = VALUES(rotated_at)",
);

async fn rotate_key(
    db: &mut dyn Exec,
    appid: &AppId,
    openid: &OpenId,
    sealed_key: &[u8],
    now: OffsetDateTime,
) -> StoreResult<()> {
    let args = args![appid.as_str(), openid.as_str(), sealed_key, unix(now)];
    db.execute(&ROTATE_KEY, &args).await?;
    Ok(())
}

async fn insert_session(db: &mut dyn Exec, session: &SessionRecord) -> StoreResult<()> {
    static INSERT: Query = Query::new(
        "INSERT INTO sessions (hash, appid, openid, unionid, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?)",
    );
    let id = &session.identity;
    let args = args![
        session.hash.0.as_slice(),
        id.appid.as_str(),
        id.openid.as_str(),
        id.unionid.as_ref().map(UnionId::as_str),
        unix(session.created_at),
        unix(session.expires_at),
    ];
    db.execute(&INSERT, &args).await?;
    Ok(())
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn record_login(&self, login: &LoginRecord) -> StoreResult<()> {
        let login = login.clone();
        let announce = login.announce && login.sign_in.is_some();
        if !self.is_sqlite() && !announce {
            // One round trip and no BEGIN/COMMIT: one statement on PostgreSQL, one CALL on
            // MySQL, with the session or without it (with Redis, sessions live there).
            // (SQLite's writer commits in groups, where more statements cost no trip.)
            let postgres = self.is_postgres();
            return self
                .write("record_login", move |db| {
                    Box::pin(async move { record_login_in_one_trip(db, &login, postgres).await })
                })
                .await;
        }
        // One unit: one commit per login. The session_keys row is written first, as every
        // login writes it: concurrent logins of one identity queue on it in the same order;
        // then the user's row (`sign_in`), then new rows, and the event last.
        self.atomic("record_login", move |db| {
            Box::pin(async move {
                let id = &login.identity;
                rotate_key(db, &id.appid, &id.openid, &login.sealed_key, login.at).await?;
                if let Some(session) = &login.session {
                    insert_session(db, session).await?;
                }
                if let Some((family, first)) = &login.sign_in {
                    sign_in(db, family, first, login.at).await?;
                    if announce {
                        let (kind, user) = (EventType::UserSignedIn, &family.user_id);
                        insert_event(db, kind, user, Some(id), None, login.at).await?;
                    }
                }
                Ok(Step::Keep(()))
            })
        })
        .await
    }

    async fn live_session(
        &self,
        hash: &HandleHash,
        now: OffsetDateTime,
    ) -> StoreResult<Option<SessionRecord>> {
        static Q: Query = Query::new(
            "SELECT hash, appid, openid, unionid, created_at, expires_at
             FROM sessions WHERE hash = ? AND expires_at > ?",
        );
        let hash = *hash;
        self.read("live_session", move |db| {
            Box::pin(async move {
                db.fetch_optional(&Q, &args![hash.0.as_slice(), unix(now)])
                    .await?
                    .map(|mut row| rows::session(&mut row))
                    .transpose()
            })
        })
        .await
    }

    async fn session_keys(
        &self,
        appid: &AppId,
        openid: &OpenId,
    ) -> StoreResult<Option<SessionKeys>> {
        static Q: Query = Query::new(
            "SELECT current_sealed, previous_sealed, rotated_at
             FROM session_keys WHERE appid = ? AND openid = ?",
        );
        let (appid, openid) = (appid.clone(), openid.clone());
        self.read("session_keys", move |db| {
            Box::pin(async move {
                db.fetch_optional(&Q, &args![appid.as_str(), openid.as_str()])
                    .await?
                    .map(|mut row| rows::session_keys(&mut row))
                    .transpose()
            })
        })
        .await
    }
}

/// [`SessionStore::record_login`] in one round trip, with or without its session.
///
/// PostgreSQL: one statement. The rows of the data-modifying CTEs are checked (foreign keys
/// included) at the end of the statement, so the first token may name the family inserted
/// beside it. MySQL has no data-modifying CTEs: the same writes, in the same order, are the
/// procedure `wxlogin_record_login` (`migrations/mysql/0003_record_login.sql`), one
/// transaction that rolls back and re-raises on any error.
async fn record_login_in_one_trip(
    db: &mut dyn Exec,
    login: &LoginRecord,
    postgres: bool,
) -> StoreResult<()> {
    macro_rules! key {
        () => {
            "WITH k AS (
                 INSERT INTO session_keys (appid, openid, current_sealed, previous_sealed, rotated_at)
                 VALUES (?, ?, ?, NULL, ?)
                 ON CONFLICT (appid, openid) DO UPDATE SET
                     previous_sealed = session_keys.current_sealed,
                     current_sealed = excluded.current_sealed,
                     rotated_at = excluded.rotated_at
                 RETURNING 1
             )"
        };
    }
    macro_rules! session {
        () => {
            ", s AS (
                 INSERT INTO sessions (hash, appid, openid, unionid, created_at, expires_at)
                 VALUES (?, ?, ?, ?, ?, ?)
                 RETURNING 1
             )"
        };
    }
    macro_rules! sign_in {
        () => {
            ", f AS (
                 INSERT INTO refresh_families (id, user_id, appid, created_at) VALUES (?, ?, ?, ?)
             ), u AS (
                 UPDATE users SET last_login_at = ? WHERE id = ?
             )
             INSERT INTO refresh_tokens (hash, family_id, created_at, expires_at)
             VALUES (?, ?, ?, ?)"
        };
    }
    static LOGIN: Query = Query::new(concat!(
        key!(),
        session!(),
        " SELECT (SELECT count(*) FROM k) + (SELECT count(*) FROM s)"
    ));
    static SIGN_IN: Query = Query::new(concat!(key!(), session!(), sign_in!()));
    static SIGN_IN_WITHOUT_SESSION: Query = Query::new(concat!(key!(), sign_in!()));

    let (id, key) = (&login.identity, login.sealed_key.as_slice());
    let mut all = args![id.appid.as_str(), id.openid.as_str(), key, unix(login.at)].to_vec();
    if let Some(session) = &login.session {
        all.extend(args![
            session.hash.0.as_slice(),
            session.identity.appid.as_str(),
            session.identity.openid.as_str(),
            session.identity.unionid.as_ref().map(UnionId::as_str),
            unix(session.created_at),
            unix(session.expires_at),
        ]);
    }
    if !postgres {
        return mysql_record_login(db, login, all).await;
    }
    let Some((family, first)) = &login.sign_in else {
        return match login.session {
            Some(_) => db.fetch(&LOGIN, &all).await.map(drop),
            None => rotate_key(db, &id.appid, &id.openid, key, login.at).await,
        };
    };
    all.extend(args![
        family.id.as_str(),
        family.user_id.as_str(),
        family.appid.as_str(),
        unix(family.created_at),
        unix(login.at),
        family.user_id.as_str(),
        first.hash.0.as_slice(),
        family.id.as_str(),
        unix(first.created_at),
        unix(first.expires_at),
    ]);
    let statement = match login.session {
        Some(_) => &SIGN_IN,
        None => &SIGN_IN_WITHOUT_SESSION,
    };
    db.execute(statement, &all).await.map(drop)
}

/// The MySQL half of [`record_login_in_one_trip`]: `all` holds the session_key's arguments
/// and, if there is one, the session's, as PostgreSQL's statement takes them; the missing
/// session's and sign-in's are NULL.
async fn mysql_record_login(
    db: &mut dyn Exec,
    login: &LoginRecord,
    mut all: Vec<Arg<'_>>,
) -> StoreResult<()> {
    static CALL: Query =
        Query::new("CALL wxlogin_record_login(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if login.session.is_none() {
        let none: Option<&str> = None;
        all.extend(args![
            None::<&[u8]>,
            none,
            none,
            none,
            None::<i64>,
            None::<i64>
        ]);
    }
    let family = login.sign_in.as_ref().map(|(family, _)| family);
    let first = login.sign_in.as_ref().map(|(_, first)| first);
    all.extend(args![
        family.map(|f| f.id.as_str()),
        family.map(|f| f.user_id.as_str()),
        family.map(|f| f.appid.as_str()),
        family.map(|f| unix(f.created_at)),
        first.map(|t| t.hash.0.as_slice()),
        first.map(|t| unix(t.created_at)),
        first.map(|t| unix(t.expires_at)),
    ]);
    db.execute(&CALL, &all).await.map(drop)
}
