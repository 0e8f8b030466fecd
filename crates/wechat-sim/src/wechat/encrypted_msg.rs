//! `POST /wxa/business/checkencryptedmsg`: did WeChat (here, the simulator) produce this
//! legacy `encryptedData`?

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::Method;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::{Params, Processed, json_object, reply, token_app};
use crate::api::Api;
use crate::sim::{Sim, lock};

#[derive(Deserialize)]
struct CheckRequest {
    encrypted_msg_hash: Option<String>,
}

/// WeChat's reply, `vaild` typo and all; `create_time` only for a vouched-for ciphertext.
#[derive(Serialize)]
struct CheckReply {
    errcode: i64,
    errmsg: &'static str,
    vaild: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    create_time: Option<i64>,
}

pub(crate) async fn checkencryptedmsg(
    State(sim): State<Sim>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let params = Params::from_query(query.as_deref());
    let body = body.ok();
    reply::answer(&sim, Api::CheckEncryptedMsg, || {
        check(&sim, &method, &params, body.as_deref())
    })
    .await
}

/// POST only (43002), then the token (41001, 40001, 42001), then the body: not a JSON object,
/// or a hash that is not a string, is 47001; a missing hash, or one that is not 64 lowercase
/// hex digits, is 40097. Then `vaild` says whether this app's `encrypted_phone` produced the
/// ciphertext within the last 3 days.
fn check(sim: &Sim, method: &Method, params: &Params<'_>, body: Option<&[u8]>) -> Processed {
    if method != Method::POST {
        return Err(43002);
    }
    let app_index = token_app(sim, params)?;
    let request: CheckRequest = json_object(body.ok_or(47001)?)?;
    let hash = request
        .encrypted_msg_hash
        .as_deref()
        .and_then(parse_hash)
        .ok_or(40097)?;

    let inner = sim.inner();
    let app = inner.apps.get(app_index).ok_or(40001)?;
    let produced_at = lock(&app.produced).produced_at(&hash, inner.clock.now_millis());
    let body = CheckReply {
        errcode: 0,
        errmsg: "ok",
        vaild: produced_at.is_some(),
        create_time: produced_at.map(|ms| ms.div_euclid(1000)),
    };
    serde_json::to_vec(&body).map_err(|_| -1)
}

/// Exactly 64 lowercase hex digits, as `hex(sha256(ciphertext))` prints.
fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let lowercase_hex = text
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if text.len() != 64 || !lowercase_hex {
        return None;
    }
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash).ok()?;
    Some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_64_lowercase_hex_digits_are_a_hash() {
        let good = "ab".repeat(32);
        assert_eq!(parse_hash(&good), Some([0xab; 32]));
        for bad in [
            String::new(),
            "ab".repeat(31),
            "ab".repeat(33),
            "AB".repeat(32),
            format!("{}zz", "ab".repeat(31)),
            format!("{}é", "a".repeat(62)),
        ] {
            assert_eq!(parse_hash(&bad), None, "{bad:?}");
        }
    }
}
