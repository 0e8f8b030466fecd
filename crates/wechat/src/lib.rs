//! wxlogin-wechat: a typed client for WeChat's Mini Program server API, the errcode table,
//! the access-token manager and its cluster-wide lease, and the adapter behind
//! `wxlogin_core::wechat::WeChatApi`.
//!
//! Four rules shape it (`docs/wechat.md` §1, §9):
//! * a login or phone code goes to WeChat **once**: no method retries a code exchange, except
//!   the phone call whose *token* was refused, which WeChat answers before it reads the code;
//! * a 200 reply with a non-zero `errcode` is an error, and only the number is matched;
//! * while WeChat keeps failing, an API's circuit breaker refuses calls *before* sending them;
//! * secrets (AppSecret, access_token, codes, session_key) never appear in `Display`, `Debug`
//!   or metrics labels: transport errors lose their URL, decode errors never quote the body.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::collections::HashMap;
//! use wxlogin_core::{ids::AppId, secret::{AppSecret, LoginCode}, wechat::WeChatApi};
//! use wxlogin_wechat::{ClientConfig, WeChatAdapter, WeChatClient};
//!
//! let client = WeChatClient::new(ClientConfig::wechat())?;
//! let app = AppId::parse("wx4f4bc4dec97d474b")?;
//! let apps = HashMap::from([(app.clone(), AppSecret::new("..."))]);
//! let wechat = WeChatAdapter::in_process(client, apps);
//! let session = wechat.code_to_session(&app, LoginCode::new("code from wx.login")).await?;
//! # let _ = session; Ok(()) }
//! ```
//!
//! # Layout
//! * [`client`]: [`WeChatClient`], one method per endpoint, and its [`ClientConfig`];
//!   `check_encrypted_msg` (`checkencryptedmsg`) asks whether WeChat itself produced a legacy
//!   `encryptedData` (by the SHA-256 of its ciphertext), since AES-CBC alone proves nothing.
//! * [`breaker`]: the per-API circuit breaker and its [`BreakerConfig`].
//! * [`wire`]: the JSON shapes, including the `countryCode` string-or-number quirk and
//!   `checkencryptedmsg`'s `vaild` spelling.
//! * [`errcode`]: [`Errcode`], every row of `docs/wechat.md` §9.3, and its [`Outcome`].
//! * [`error`]: [`WeChatError`] and [`DecodeError`], free of secrets.
//! * [`signature`]: the login-state HMAC for `checksession`.
//! * [`access_token`]: the [`AccessTokenSource`] port and the in-process [`AccessTokenManager`].
//! * [`lease`]: [`LeasedTokenSource`], one token per appid for the whole cluster, through
//!   core's `TokenLease` port (Redis), falling back to a [`AccessTokenManager`] while it fails.
//! * [`adapter`]: [`WeChatAdapter`], the core port, and the error mapping to `WeChatFailure`.
//! * [`telemetry`]: metric names, recorded through the `metrics` facade.

pub mod access_token;
pub mod adapter;
pub mod breaker;
pub mod client;
pub mod errcode;
pub mod error;
pub mod lease;
pub mod signature;
pub mod telemetry;
pub mod wire;

pub use access_token::{AccessTokenManager, AccessTokenOptions, AccessTokenSource};
pub use adapter::WeChatAdapter;
pub use breaker::{BreakerConfig, BreakerState};
pub use client::{
    ClientBuildError, ClientConfig, Code2Session, PhoneNumberError, RetryPolicy, SessionKeyCheck,
    WECHAT_BASE_URL, WeChatClient,
};
pub use errcode::{Endpoint, Errcode, Outcome};
pub use error::{DecodeError, WeChatError};
pub use lease::{LeaseOptions, LeaseStatus, LeasedTokenSource};
pub use wire::{AccessToken, EncryptedMsgCheck};
