//! The admin API's response bodies. Like [`crate::views`], none derive `Debug`: they may carry
//! phone numbers and openids (with the `users:pii` scope).

use serde::Serialize;
use utoipa::ToSchema;

/// An identity in the admin user view.
#[derive(Clone, Serialize, ToSchema)]
pub struct AdminIdentityView {
    /// The app.
    pub appid: String,
    /// The openid: only with `users:pii`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openid: Option<String>,
    /// Whether a unionid is known.
    pub has_unionid: bool,
    /// RFC 3339: when it was bound to this user.
    pub bound_at: String,
}

/// `user` in the admin API.
#[derive(Clone, Serialize, ToSchema)]
pub struct AdminUserView {
    /// Our user id.
    pub user_id: String,
    /// Display name.
    #[schema(required = true)]
    pub nickname: Option<String>,
    /// Avatar URL.
    #[schema(required = true)]
    pub avatar_url: Option<String>,
    /// `+86 138****8000`.
    pub phone_masked: String,
    /// E.164: only with `users:pii`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The operator's id for the user.
    #[schema(required = true)]
    pub external_id: Option<String>,
    /// `active` or `disabled`.
    pub status: &'static str,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, or null before the first sign-in.
    #[schema(required = true)]
    pub last_login_at: Option<String>,
    /// WeChat identities.
    pub identities: Vec<AdminIdentityView>,
    /// Signed-in devices (live refresh families).
    pub live_sessions: u64,
}

/// `{"user": ...}`.
#[derive(Clone, Serialize, ToSchema)]
pub struct AdminUserEnvelope {
    /// The user.
    pub user: AdminUserView,
}

/// `GET /admin/v1/users`.
#[derive(Clone, Serialize, ToSchema)]
pub struct UsersPageView {
    /// Newest first.
    pub users: Vec<AdminUserView>,
    /// Pass as `cursor` for the next page; null on the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// `GET /admin/v1/stats`.
#[derive(Clone, Serialize, ToSchema)]
pub struct StatsView {
    /// Users (deleted ones not counted).
    pub users: u64,
    /// Users created in the last 24 hours.
    pub registrations_24h: u64,
    /// Sign-ins in the last 24 hours.
    pub logins_24h: u64,
    /// Disabled users.
    pub disabled: u64,
}

/// One rejected row of an import.
#[derive(Clone, Serialize, ToSchema)]
pub struct ImportRejectionView {
    /// Its index in the batch, from 0.
    pub index: usize,
    /// Why.
    pub reason: String,
}

/// `POST /admin/v1/users/import`.
#[derive(Clone, Serialize, ToSchema)]
pub struct ImportView {
    /// Users created.
    pub created: u64,
    /// Rows whose phone or external_id already had a user (nothing changed).
    pub existing: u64,
    /// Rows refused.
    pub rejected: Vec<ImportRejectionView>,
}

/// `data` of an event.
#[derive(Clone, Serialize, ToSchema)]
pub struct EventDataView {
    /// Whose.
    pub user_id: String,
    /// Their external_id when it happened (null when none).
    #[schema(required = true)]
    pub external_id: Option<String>,
    /// The app, on identity events, `user.registered` and `user.signed_in`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appid: Option<String>,
    /// The openid, with `users:pii`, where the event has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openid: Option<String>,
    /// `lookup` or `import`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<&'static str>,
}

/// One webhook delivery of an event.
#[derive(Clone, Serialize, ToSchema)]
pub struct DeliveryView {
    /// The endpoint's id (`wh_…`, from its URL; `wxlogin` logs it at start-up with the URL).
    pub endpoint: String,
    /// `pending`, `delivered` or `dead`.
    pub status: &'static str,
    /// Attempts so far.
    pub attempts: u32,
    /// RFC 3339, while pending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    /// Why the last attempt failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// An event in `GET /admin/v1/events`.
#[derive(Clone, Serialize, ToSchema)]
pub struct EventView {
    /// `evt_…`.
    pub id: String,
    /// `user.registered`, …
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// RFC 3339.
    pub timestamp: String,
    /// What it is about.
    pub data: EventDataView,
    /// Its webhook deliveries.
    pub deliveries: Vec<DeliveryView>,
}

/// `GET /admin/v1/events`.
#[derive(Clone, Serialize, ToSchema)]
pub struct EventsView {
    /// Oldest first.
    pub events: Vec<EventView>,
}

/// A signing key in `GET /admin/v1/keys`.
#[derive(Clone, Serialize, ToSchema)]
pub struct KeyView {
    /// Key id.
    pub kid: String,
    /// `ES256`, `EdDSA` or `RS256`.
    pub alg: &'static str,
    /// `next`, `current` or `retiring`.
    pub state: &'static str,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339: when it signs (or signed) from.
    pub signs_from: String,
}

/// `GET /admin/v1/keys`.
#[derive(Clone, Serialize, ToSchema)]
pub struct KeysView {
    /// Oldest first.
    pub keys: Vec<KeyView>,
}
