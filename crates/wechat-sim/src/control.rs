//! The test-only control API under `/_sim/v1/` (not WeChat API).
//!
//! Errors are `{"error": "<message>"}`: 400 for a body that is not a JSON object, lacks a
//! field, has a wrong type or an unacceptable value; 404 for an unknown appid or route; 405 for
//! a wrong method; 409 when legacy data is asked for a user without a session_key; 413 for a
//! body over 64 KiB. Bodies are read whatever their `Content-Type`, so `curl -d` works.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::time::Duration;

use crate::api::Api;
use crate::error::SimError;
use crate::faults::{Fault, FaultAnswer, Transport};
use crate::sim::Sim;

const MAX_COUNT: u32 = 10_000;
const MAX_DELAY_MS: u64 = 3_600_000;
/// Ten years: more than any TTL, far from overflowing anything.
const MAX_ADVANCE_SECS: u64 = 10 * 366 * 86_400;
/// serde messages can quote the offending input; keep replies small.
const MAX_MESSAGE_LEN: usize = 300;

pub(crate) fn routes() -> Router<Sim> {
    Router::new()
        .route("/login_codes", only(post(login_codes)))
        .route("/phone_codes", only(post(phone_codes)))
        .route("/encrypted_phone", only(post(encrypted_phone)))
        .route("/faults", only(post(add_fault).delete(clear_faults)))
        .route("/stats", only(get(stats).delete(reset_stats)))
        .route("/clock", only(get(clock).post(advance_clock)))
        .route("/tokens/invalidate", only(post(invalidate_tokens)))
        .route("/identity", only(post(identity)))
        .fallback(not_found)
}

fn only(methods: MethodRouter<Sim>) -> MethodRouter<Sim> {
    methods.fallback(method_not_allowed)
}

/// A control-API refusal.
#[derive(Debug)]
pub(crate) struct ControlError {
    status: StatusCode,
    message: String,
}

impl ControlError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        let mut message = message.into();
        if message.len() > MAX_MESSAGE_LEN {
            let mut cut = MAX_MESSAGE_LEN;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        Self { status, message }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<SimError> for ControlError {
    fn from(err: SimError) -> Self {
        let status = match err {
            SimError::UnknownApp(_) => StatusCode::NOT_FOUND,
            SimError::NoSessionKey => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        };
        Self::new(status, err.to_string())
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

type Reply = Result<Json<Value>, ControlError>;

/// Reads a JSON object body into `T`, whatever the content type says.
fn parse<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ControlError> {
    let bytes = body.map_err(|r| ControlError::new(r.status(), r.body_text()))?;
    if bytes.is_empty() {
        return Err(ControlError::bad_request("a JSON object body is required"));
    }
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ControlError::bad_request(format!("body is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(ControlError::bad_request("body must be a JSON object"));
    }
    serde_json::from_value(value)
        .map_err(|e| ControlError::bad_request(format!("invalid body: {e}")))
}

#[derive(Deserialize)]
struct CodesRequest {
    appid: String,
    user: String,
    phone: Option<String>,
    count: Option<u32>,
}

impl CodesRequest {
    fn count(&self) -> Result<usize, ControlError> {
        match self.count {
            None => Ok(1),
            Some(n @ 1..=MAX_COUNT) => Ok(n as usize),
            Some(_) => Err(ControlError::bad_request(format!(
                "count must be between 1 and {MAX_COUNT}"
            ))),
        }
    }

    /// `{"code"}`, plus `"codes"` when a count was asked for.
    fn reply(&self, codes: Vec<String>) -> Json<Value> {
        let first = codes.first().cloned().unwrap_or_default();
        Json(match self.count {
            Some(_) => json!({ "code": first, "codes": codes }),
            None => json!({ "code": first }),
        })
    }
}

async fn login_codes(State(sim): State<Sim>, body: Result<Bytes, BytesRejection>) -> Reply {
    let req: CodesRequest = parse(body)?;
    let codes = sim.mint_login_codes(&req.appid, &req.user, req.count()?)?;
    Ok(req.reply(codes))
}

async fn phone_codes(State(sim): State<Sim>, body: Result<Bytes, BytesRejection>) -> Reply {
    let req: CodesRequest = parse(body)?;
    let phone = req
        .phone
        .as_deref()
        .ok_or_else(|| ControlError::bad_request("missing field `phone`"))?;
    let codes = sim.mint_phone_codes(&req.appid, &req.user, phone, req.count()?)?;
    Ok(req.reply(codes))
}

#[derive(Deserialize)]
struct EncryptedPhoneRequest {
    appid: String,
    user: String,
    phone: String,
}

async fn encrypted_phone(State(sim): State<Sim>, body: Result<Bytes, BytesRejection>) -> Reply {
    let req: EncryptedPhoneRequest = parse(body)?;
    let (encrypted_data, iv) = sim.encrypted_phone(&req.appid, &req.user, &req.phone)?;
    Ok(Json(json!({ "encrypted_data": encrypted_data, "iv": iv })))
}

#[derive(Deserialize)]
struct FaultRequest {
    api: String,
    errcode: Option<i64>,
    transport: Option<String>,
    times: Option<u64>,
    delay_ms: Option<u64>,
    jitter_ms: Option<u64>,
    probability: Option<f64>,
    after_processing: Option<bool>,
}

impl FaultRequest {
    fn into_fault(self) -> Result<Fault, ControlError> {
        let api = Api::from_name(&self.api).ok_or_else(|| {
            let names: Vec<&str> = Api::ALL.iter().map(|a| a.name()).collect();
            ControlError::bad_request(format!("unknown api; expected one of {}", names.join(", ")))
        })?;
        let answer = match (self.errcode, self.transport.as_deref()) {
            (Some(_), Some(_)) => {
                return Err(ControlError::bad_request(
                    "give errcode or transport, not both",
                ));
            }
            (None, Some(name)) => {
                FaultAnswer::Transport(Transport::from_name(name).ok_or_else(|| {
                    let names: Vec<&str> = Transport::ALL.iter().map(|t| t.name()).collect();
                    ControlError::bad_request(format!(
                        "unknown transport; expected one of {}",
                        names.join(", ")
                    ))
                })?)
            }
            (errcode, None) => FaultAnswer::Errcode(errcode.unwrap_or(0)),
        };
        let times = self.times.unwrap_or(1);
        if times == 0 {
            return Err(ControlError::bad_request("times must be at least 1"));
        }
        let delay_ms = self.delay_ms.unwrap_or(0);
        let jitter_ms = self.jitter_ms.unwrap_or(0);
        if delay_ms > MAX_DELAY_MS || jitter_ms > MAX_DELAY_MS {
            return Err(ControlError::bad_request(format!(
                "delay_ms and jitter_ms must be at most {MAX_DELAY_MS}"
            )));
        }
        let probability = self.probability.unwrap_or(1.0);
        if !(probability > 0.0 && probability <= 1.0) {
            return Err(ControlError::bad_request("probability must be in (0, 1]"));
        }
        Ok(Fault {
            api,
            answer,
            times,
            delay: Duration::from_millis(delay_ms),
            jitter: Duration::from_millis(jitter_ms),
            probability,
            after_processing: self.after_processing.unwrap_or(false),
        })
    }
}

async fn add_fault(State(sim): State<Sim>, body: Result<Bytes, BytesRejection>) -> Reply {
    let fault = parse::<FaultRequest>(body)?.into_fault()?;
    sim.inject_fault(fault);
    let pending = sim.inner().faults.pending(fault.api);
    Ok(Json(
        json!({ "ok": true, "api": fault.api.name(), "pending": pending }),
    ))
}

async fn clear_faults(State(sim): State<Sim>) -> Json<Value> {
    sim.clear_faults();
    Json(json!({ "ok": true }))
}

async fn stats(State(sim): State<Sim>) -> Json<Value> {
    Json(sim.stats())
}

async fn reset_stats(State(sim): State<Sim>) -> Json<Value> {
    sim.reset_stats();
    Json(sim.stats())
}

fn clock_reply(sim: &Sim) -> Json<Value> {
    let clock = sim.clock();
    Json(json!({ "now": clock.now_unix(), "offset_secs": clock.offset().as_secs() }))
}

async fn clock(State(sim): State<Sim>) -> Json<Value> {
    clock_reply(&sim)
}

#[derive(Deserialize)]
struct AdvanceRequest {
    advance_secs: u64,
}

async fn advance_clock(State(sim): State<Sim>, body: Result<Bytes, BytesRejection>) -> Reply {
    let req: AdvanceRequest = parse(body)?;
    if req.advance_secs > MAX_ADVANCE_SECS {
        return Err(ControlError::bad_request(format!(
            "advance_secs must be at most {MAX_ADVANCE_SECS}"
        )));
    }
    sim.clock().advance(Duration::from_secs(req.advance_secs));
    Ok(clock_reply(&sim))
}

#[derive(Deserialize)]
struct AppRequest {
    appid: String,
}

async fn invalidate_tokens(State(sim): State<Sim>, body: Result<Bytes, BytesRejection>) -> Reply {
    let req: AppRequest = parse(body)?;
    let invalidated = sim.invalidate_tokens(&req.appid)?;
    Ok(Json(json!({ "invalidated": invalidated })))
}

#[derive(Deserialize)]
struct IdentityRequest {
    appid: String,
    user: String,
}

async fn identity(State(sim): State<Sim>, body: Result<Bytes, BytesRejection>) -> Reply {
    let req: IdentityRequest = parse(body)?;
    sim.app(&req.appid)?;
    let mut reply = json!({ "openid": sim.openid_of(&req.appid, &req.user) });
    if let Some(unionid) = sim.unionid_of(&req.appid, &req.user) {
        reply["unionid"] = json!(unionid);
    }
    Ok(Json(reply))
}

pub(crate) async fn not_found() -> ControlError {
    ControlError::new(StatusCode::NOT_FOUND, "no such control route")
}

async fn method_not_allowed() -> ControlError {
    ControlError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this control route",
    )
}
