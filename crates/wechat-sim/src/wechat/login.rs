//! `GET /sns/jscode2session`: a login code for the user's openid, unionid and a session_key.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde::Serialize;

use super::{Params, Processed, reply};
use crate::api::Api;
use crate::codes::Refusal;
use crate::sim::{Sim, lock, millis};

#[derive(Serialize)]
struct Session<'a> {
    openid: &'a str,
    session_key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    unionid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errcode: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errmsg: Option<&'static str>,
}

pub(crate) async fn jscode2session(State(sim): State<Sim>, RawQuery(query): RawQuery) -> Response {
    let params = Params::from_query(query.as_deref());
    reply::answer(&sim, Api::Jscode2session, || exchange(&sim, &params)).await
}

/// Checks in WeChat's order (appid missing, appid unknown, secret, grant_type, code), then
/// redeems the code and rotates the user's session_key.
fn exchange(sim: &Sim, params: &Params<'_>) -> Processed {
    let appid = params.non_empty("appid").ok_or(41002)?;
    let (_, app) = sim.app(appid).map_err(|_| 40013)?;
    let secret = params.non_empty("secret").ok_or(41004)?;
    if secret != app.config.secret {
        return Err(40125);
    }
    if params.get("grant_type") != Some("authorization_code") {
        return Err(40002);
    }
    let code = params.non_empty("js_code").ok_or(41008)?;

    let inner = sim.inner();
    let now = inner.clock.now_millis();
    let grant =
        lock(&app.login_codes)
            .redeem(code, now, |_| true)
            .map_err(|refusal| match refusal {
                Refusal::Used => 40163,
                Refusal::Unknown | Refusal::Expired | Refusal::Rejected => 40029,
            })?;
    // Drawn outside the lock: the lock guards the map, not the randomness.
    let fresh = inner.entropy.session_key();
    let session_key = lock(&app.session_keys).exchange(
        &grant.openid,
        fresh,
        now,
        inner.config.session_key_lifetime.map(millis),
        inner.config.stable_session_key,
    );
    let errcode_zero = inner.config.jscode2session_errcode_zero;
    let body = Session {
        openid: &grant.openid,
        session_key: &session_key,
        unionid: grant.unionid.as_deref(),
        errcode: errcode_zero.then_some(0),
        errmsg: errcode_zero.then_some("ok"),
    };
    serde_json::to_vec(&body).map_err(|_| -1)
}
