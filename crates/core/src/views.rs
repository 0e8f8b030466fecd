//! What the use cases return: the contract's response bodies, ready to serialise.
//!
//! None of these derive `Debug`: they carry sessions, tokens and phone numbers. The login and
//! phone views also deserialise: their outcomes are kept, sealed, for the code's lifetime
//! (see [`crate::outcome`]).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::phone::Phone;

/// `user` in login, phone and register responses.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    /// Our user id.
    pub user_id: String,
    /// Display name, if set.
    #[schema(required = true)]
    pub nickname: Option<String>,
    /// Avatar URL, if set.
    #[schema(required = true)]
    pub avatar_url: Option<String>,
    /// `+86 138****8000`.
    pub phone_masked: String,
}

/// `tokens` in responses.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct TokensView {
    /// The access token: a JWT (ES256 unless `tokens.algorithm` says EdDSA or RS256).
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The opaque refresh token.
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: u64,
}

/// `POST /v1/login` 200.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginView {
    /// The opaque session handle.
    pub session: String,
    /// Seconds until the session expires.
    pub session_expires_in: u64,
    /// Whether the openid (or its unionid) is bound to a user.
    pub registered: bool,
    /// Present on silent login.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserView>,
    /// Present on silent login.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TokensView>,
}

/// `POST /v1/phone` 200.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum PhoneView {
    /// The phone belongs to a user: signed in.
    Registered {
        /// Always true.
        registered: bool,
        /// The user.
        user: UserView,
        /// Fresh tokens.
        tokens: TokensView,
    },
    /// Nobody has this phone yet: register with the ticket.
    NotRegistered {
        /// Always false.
        registered: bool,
        /// The verified phone, for the registration page.
        phone: Phone,
        /// Single-use, short-lived.
        registration_ticket: String,
        /// Seconds until the ticket expires.
        ticket_expires_in: u64,
    },
}

/// `POST /v1/register` 201 and sign-ins in general.
#[derive(Clone, Serialize, ToSchema)]
pub struct SignedInView {
    /// The user.
    pub user: UserView,
    /// Fresh tokens.
    pub tokens: TokensView,
}

/// `POST /v1/token/refresh` 200.
#[derive(Clone, Serialize, ToSchema)]
pub struct RefreshView {
    /// The new pair.
    pub tokens: TokensView,
}

/// One identity in `/v1/me`.
#[derive(Clone, Serialize, ToSchema)]
pub struct IdentityView {
    /// The app.
    pub appid: String,
    /// Whether a unionid is known.
    pub has_unionid: bool,
}

/// `user` in `/v1/me`.
#[derive(Clone, Serialize, ToSchema)]
pub struct MeUserView {
    /// Our user id.
    pub user_id: String,
    /// Display name, if set.
    #[schema(required = true)]
    pub nickname: Option<String>,
    /// Avatar URL, if set.
    #[schema(required = true)]
    pub avatar_url: Option<String>,
    /// `+86 138****8000`.
    pub phone_masked: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The user's WeChat identities.
    pub identities: Vec<IdentityView>,
}

/// `GET /v1/me` 200.
#[derive(Clone, Serialize, ToSchema)]
pub struct MeView {
    /// The user.
    pub user: MeUserView,
}
