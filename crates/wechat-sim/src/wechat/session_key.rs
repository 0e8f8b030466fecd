//! `/wxa/checksession` and `/wxa/resetusersessionkey`: the login-state signature APIs.
//!
//! Parameters come from the query; a JSON body may supply the ones the query lacks
//! (`docs/wechat.md` §6.3: the new doc calls them "payload" yet its example uses the query).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde::Serialize;

use super::{Params, Processed, reply, token_app};
use crate::api::Api;
use crate::session_keys::signature_matches;
use crate::sim::{App, Sim, lock};

#[derive(Serialize)]
struct ResetReply<'a> {
    errcode: i64,
    errmsg: &'static str,
    openid: &'a str,
    session_key: &'a str,
}

const OK_BODY: &[u8] = br#"{"errcode":0,"errmsg":"ok"}"#;

pub(crate) async fn checksession(
    State(sim): State<Sim>,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = body.unwrap_or_default();
    let params = Params::from_query(query.as_deref()).with_json_body(&body);
    reply::answer(&sim, Api::CheckSession, || {
        verify(&sim, &params).map(|_| OK_BODY.to_vec())
    })
    .await
}

pub(crate) async fn resetusersessionkey(
    State(sim): State<Sim>,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = body.unwrap_or_default();
    let params = Params::from_query(query.as_deref()).with_json_body(&body);
    reply::answer(&sim, Api::ResetUserSessionKey, || reset(&sim, &params)).await
}

/// Token, then `sig_method` (87008), then `openid` (40003 when missing), then the signature
/// against the user's live key (87009 when wrong, when the key was replaced or expired, or
/// when this app never saw the openid).
fn verify<'s>(sim: &'s Sim, params: &Params<'_>) -> Result<(&'s App, String), i64> {
    let app_index = token_app(sim, params)?;
    if params.get("sig_method") != Some("hmac_sha256") {
        return Err(87008);
    }
    let openid = params.non_empty("openid").ok_or(40003)?;
    let signature = params.non_empty("signature").ok_or(87009)?;
    let inner = sim.inner();
    let app = inner.apps.get(app_index).ok_or(40001)?;
    let key = lock(&app.session_keys)
        .current(openid, inner.clock.now_millis())
        .map(str::to_owned)
        .ok_or(87009)?;
    if !signature_matches(&key, signature) {
        return Err(87009);
    }
    Ok((app, openid.to_owned()))
}

/// A new key with the old one's expiry; the old one dies.
fn reset(sim: &Sim, params: &Params<'_>) -> Processed {
    let (app, openid) = verify(sim, params)?;
    let inner = sim.inner();
    let fresh = inner.entropy.session_key();
    let session_key = lock(&app.session_keys)
        .reset(&openid, fresh, inner.clock.now_millis())
        .ok_or(87009)?;
    let body = ResetReply {
        errcode: 0,
        errmsg: "ok",
        openid: &openid,
        session_key: &session_key,
    };
    serde_json::to_vec(&body).map_err(|_| -1)
}
