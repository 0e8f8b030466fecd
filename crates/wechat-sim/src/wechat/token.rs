//! `GET /cgi-bin/token` and `POST /cgi-bin/stable_token`: access tokens.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::Method;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::{Params, Processed, json_object, reply};
use crate::access_tokens::Issued;
use crate::api::Api;
use crate::sim::{App, Sim, lock};

#[derive(Serialize)]
struct TokenReply<'a> {
    access_token: &'a str,
    expires_in: i64,
}

fn render(issued: &Issued) -> Processed {
    let body = TokenReply {
        access_token: &issued.access_token,
        expires_in: issued.expires_in,
    };
    serde_json::to_vec(&body).map_err(|_| -1)
}

pub(crate) async fn token(State(sim): State<Sim>, RawQuery(query): RawQuery) -> Response {
    let params = Params::from_query(query.as_deref());
    reply::answer(&sim, Api::Token, || issue_token(&sim, &params)).await
}

/// Credential checks shared by both endpoints; `wrong_secret` differs between them.
fn authenticate<'s>(
    sim: &'s Sim,
    appid: Option<&str>,
    secret: Option<&str>,
    wrong_secret: i64,
) -> Result<(usize, &'s App), i64> {
    let appid = appid.filter(|a| !a.is_empty()).ok_or(41002)?;
    let (index, app) = sim.app(appid).map_err(|_| 40013)?;
    let secret = secret.filter(|s| !s.is_empty()).ok_or(41004)?;
    if secret != app.config.secret {
        return Err(wrong_secret);
    }
    Ok((index, app))
}

fn issue_token(sim: &Sim, params: &Params<'_>) -> Processed {
    // The getAccessToken doc lists 40001 for a wrong AppSecret (`docs/wechat.md` §3.1).
    let (index, _) = authenticate(sim, params.get("appid"), params.get("secret"), 40001)?;
    if params.get("grant_type") != Some("client_credential") {
        return Err(40002);
    }
    let inner = sim.inner();
    let now = inner.clock.now_millis();
    let issued =
        lock(&inner.tokens).token(index, now, sim.quotas(), || inner.entropy.access_token())?;
    render(&issued)
}

#[derive(Deserialize)]
struct StableRequest {
    grant_type: Option<String>,
    appid: Option<String>,
    secret: Option<String>,
    force_refresh: Option<bool>,
}

pub(crate) async fn stable_token(
    State(sim): State<Sim>,
    method: Method,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = body.ok();
    reply::answer(&sim, Api::StableToken, || {
        issue_stable(&sim, &method, body.as_deref())
    })
    .await
}

/// JSON POST only (47001 otherwise), then the credential checks, then the token rules.
fn issue_stable(sim: &Sim, method: &Method, body: Option<&[u8]>) -> Processed {
    if method != Method::POST {
        return Err(47001);
    }
    let request: StableRequest = json_object(body.ok_or(47001)?)?;
    let (index, _) = authenticate(
        sim,
        request.appid.as_deref(),
        request.secret.as_deref(),
        40125,
    )?;
    if request.grant_type.as_deref() != Some("client_credential") {
        return Err(40002);
    }
    let inner = sim.inner();
    let now = inner.clock.now_millis();
    let force = request.force_refresh.unwrap_or(false);
    let issued = lock(&inner.tokens).stable_token(index, now, force, sim.quotas(), || {
        inner.entropy.access_token()
    })?;
    render(&issued)
}
