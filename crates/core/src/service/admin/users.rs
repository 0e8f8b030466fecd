//! Reading users: search, one user's detail, the counts.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::{AdminPrincipal, AdminService, invalid, rfc3339};
use crate::admin::{Scope, UserDetail, UserQuery};
use crate::error::AuthError;
use crate::ids::{ExternalId, OpenId, UnionId, UserId};
use crate::phone::Phone;
use crate::service::admin_views::{
    AdminIdentityView, AdminUserEnvelope, AdminUserView, StatsView, UsersPageView,
};

/// `GET /admin/v1/users` parameters, as sent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserSearch {
    /// E.164, or 11 digits taken as +86.
    pub phone: Option<String>,
    /// An openid in any app.
    pub openid: Option<String>,
    /// A unionid.
    pub unionid: Option<String>,
    /// The operator's id.
    pub external_id: Option<String>,
    /// Nickname substring.
    pub q: Option<String>,
    /// 1-200 (50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl AdminService {
    /// Users matching `search`, newest first, a page at a time.
    pub async fn search(
        &self,
        who: &AdminPrincipal,
        search: UserSearch,
    ) -> Result<UsersPageView, AuthError> {
        who.require(Scope::UsersRead)?;
        let limit = search.limit.unwrap_or(50);
        if !(1..=200).contains(&limit) {
            return Err(invalid("limit must be 1-200"));
        }
        let before = match search.cursor.as_deref() {
            None | Some("") => None,
            Some(c) => Some(decode_cursor(c).ok_or_else(|| invalid("cursor is malformed"))?),
        };
        let phone_hash = match search.phone.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(
                self.auth
                    .phone_index
                    .hash(&Phone::parse_input(raw)?.phone_number),
            ),
        };
        let parse =
            |raw: Option<String>, what: &'static str| -> Result<Option<String>, AuthError> {
                match raw {
                    None => Ok(None),
                    Some(s) if s.is_empty() => Ok(None),
                    Some(s) if s.len() > 128 => Err(invalid(what)),
                    Some(s) => Ok(Some(s)),
                }
            };
        let openid = parse(search.openid, "openid is malformed")?
            .map(OpenId::parse)
            .transpose()
            .map_err(|_| invalid("openid is malformed"))?;
        let unionid = parse(search.unionid, "unionid is malformed")?
            .map(UnionId::parse)
            .transpose()
            .map_err(|_| invalid("unionid is malformed"))?;
        let external_id = parse(search.external_id, "external_id is malformed")?
            .map(ExternalId::parse)
            .transpose()
            .map_err(|_| invalid("external_id is malformed"))?;
        let nickname_contains = parse(search.q, "q is at most 128 bytes")?;
        let query = UserQuery {
            phone_hash,
            openid,
            unionid,
            external_id,
            nickname_contains,
            before,
            // One more than asked: whether there is a next page, without a count.
            limit: limit + 1,
        };
        let mut found = self.ports.users.search_users(&query).await?;
        let more = found.len() > limit as usize;
        found.truncate(limit as usize);
        let next_cursor = more
            .then(|| found.last().map(|u| encode_cursor(&u.id)))
            .flatten();
        let now = self.now();
        let mut users = Vec::with_capacity(found.len());
        for user in found {
            // A user deleted between the search and this read is left out of the page.
            if let Some(detail) = self.ports.users.user_detail(&user.id, now).await? {
                users.push(self.user_view(who, detail)?);
            }
        }
        Ok(UsersPageView { users, next_cursor })
    }

    /// One user.
    pub async fn user(
        &self,
        who: &AdminPrincipal,
        id: &str,
    ) -> Result<AdminUserEnvelope, AuthError> {
        who.require(Scope::UsersRead)?;
        let detail = self.detail(id).await?;
        Ok(AdminUserEnvelope {
            user: self.user_view(who, detail)?,
        })
    }

    async fn detail(&self, id: &str) -> Result<UserDetail, AuthError> {
        let id = UserId::parse(id).map_err(|_| AuthError::UserNotFound)?;
        self.ports
            .users
            .user_detail(&id, self.now())
            .await?
            .ok_or(AuthError::UserNotFound)
    }

    /// Counts.
    pub async fn stats(&self, who: &AdminPrincipal) -> Result<StatsView, AuthError> {
        who.require(Scope::UsersRead)?;
        let s = self.ports.users.stats(self.now()).await?;
        Ok(StatsView {
            users: s.users,
            registrations_24h: s.registrations_24h,
            logins_24h: s.logins_24h,
            disabled: s.disabled,
        })
    }

    fn user_view(
        &self,
        who: &AdminPrincipal,
        detail: UserDetail,
    ) -> Result<AdminUserView, AuthError> {
        let pii = who.has(Scope::UsersPii);
        let phone = self.auth.open_user_phone(&detail.user)?;
        let user = detail.user;
        Ok(AdminUserView {
            user_id: user.id.to_string(),
            nickname: user.nickname,
            avatar_url: user.avatar_url,
            phone_masked: phone.masked(),
            phone: pii.then(|| phone.phone_number.clone()),
            external_id: user.external_id.map(String::from),
            status: if user.disabled { "disabled" } else { "active" },
            created_at: rfc3339(user.created_at)?,
            last_login_at: user.last_login_at.map(rfc3339).transpose()?,
            identities: detail
                .identities
                .into_iter()
                .map(|i| {
                    Ok(AdminIdentityView {
                        appid: i.identity.appid.to_string(),
                        openid: pii.then(|| i.identity.openid.to_string()),
                        has_unionid: i.identity.unionid.is_some(),
                        bound_at: rfc3339(i.bound_at)?,
                    })
                })
                .collect::<Result<_, AuthError>>()?,
            live_sessions: detail.live_sessions,
        })
    }
}

/// The cursor is the last user id of the page, base64url so that clients treat it as opaque.
fn encode_cursor(id: &UserId) -> String {
    URL_SAFE_NO_PAD.encode(id.as_str())
}

fn decode_cursor(cursor: &str) -> Option<UserId> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    UserId::parse(String::from_utf8(bytes).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let id = UserId::generate();
        assert_eq!(decode_cursor(&encode_cursor(&id)), Some(id));
        assert_eq!(decode_cursor("!!"), None);
        assert_eq!(decode_cursor(""), None);
    }
}
