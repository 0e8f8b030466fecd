//! `POST /wxa/business/getuserphonenumber`: a phone code for the user's number.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::Method;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::{Params, Processed, json_object, reply, token_app};
use crate::api::Api;
use crate::phone::PhoneInfo;
use crate::sim::{Sim, lock};

#[derive(Deserialize)]
struct PhoneRequest {
    code: Option<String>,
    openid: Option<String>,
}

#[derive(Serialize)]
struct PhoneReply<'a> {
    errcode: i64,
    errmsg: &'static str,
    phone_info: PhoneInfo<'a>,
}

pub(crate) async fn getuserphonenumber(
    State(sim): State<Sim>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let params = Params::from_query(query.as_deref());
    let body = body.ok();
    reply::answer(&sim, Api::GetUserPhoneNumber, || {
        phone_number(&sim, &method, &params, body.as_deref())
    })
    .await
}

/// POST only, then the token (a token error comes before the code is looked at, so the code
/// stays usable), then the body, then the code in this app's phone namespace.
fn phone_number(sim: &Sim, method: &Method, params: &Params<'_>, body: Option<&[u8]>) -> Processed {
    if method != Method::POST {
        return Err(43002);
    }
    let app_index = token_app(sim, params)?;
    let request: PhoneRequest = json_object(body.ok_or(47001)?)?;
    let code = request.code.filter(|c| !c.is_empty()).ok_or(40029)?;
    let claimed_openid = request.openid.filter(|o| !o.is_empty());

    let inner = sim.inner();
    let app = inner.apps.get(app_index).ok_or(40001)?;
    let now = inner.clock.now_millis();
    // A login code, another app's code, a reused or expired code, or one of another user
    // (when `openid` is given) are all 40029; an openid mismatch leaves the code unused.
    let grant = lock(&app.phone_codes)
        .redeem(&code, now, |g| {
            claimed_openid.as_deref().is_none_or(|o| o == g.openid)
        })
        .map_err(|_| 40029)?;
    let body = PhoneReply {
        errcode: 0,
        errmsg: "ok",
        phone_info: grant.phone.info(
            &app.config.appid,
            grant.minted_at,
            inner.config.country_code_as_number,
        ),
    };
    serde_json::to_vec(&body).map_err(|_| -1)
}
