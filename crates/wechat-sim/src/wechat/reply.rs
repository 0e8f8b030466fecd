//! Answering a WeChat call: faults first, then processing, stats, and the reply's shape.

use std::io;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Processed;
use crate::api::Api;
use crate::errcode;
use crate::faults::{FaultAnswer, Transport};
use crate::sim::Sim;
use crate::stats::Outcome;

/// WeChat's content type, `encoding` and all.
const WECHAT_JSON: &str = "application/json; encoding=utf-8";

/// What `truncated_json` sends: a reply cut off mid-object.
const TRUNCATED_BODY: &[u8] = br#"{"errcode":0,"errmsg":"o"#;

/// What `http_500` sends, like a failing gateway in front of WeChat.
const HTML_500: &str = "<html>\r\n<head><title>500 Internal Server Error</title></head>\r\n\
<body>\r\n<center><h1>500 Internal Server Error</h1></center>\r\n</body>\r\n</html>\r\n";

/// Answers one call of `api`: with a queued fault, or by running `process`.
///
/// A faulted call is counted under the fault's errcode (or transport label) at the moment the
/// fault is chosen, so a hung call shows in stats while it hangs. Unless the fault says
/// `after_processing`, `process` never runs for it, so a code it carries stays unused.
pub(crate) async fn answer(sim: &Sim, api: Api, process: impl FnOnce() -> Processed) -> Response {
    let inner = sim.inner();
    let Some(fault) = inner.faults.take(api, &inner.entropy) else {
        return finish(sim, api, process());
    };
    let jitter_ms = u64::try_from(fault.jitter.as_millis()).unwrap_or(u64::MAX);
    let delay = fault
        .delay
        .saturating_add(Duration::from_millis(inner.entropy.up_to(jitter_ms)));
    match fault.answer {
        FaultAnswer::Errcode(0) => {
            pause(delay).await;
            finish(sim, api, process())
        }
        FaultAnswer::Errcode(code) => {
            inner.stats.record(api, Outcome::Errcode(code));
            if fault.after_processing {
                let _ = process();
            }
            pause(delay).await;
            json(
                errcode::error_body(code, sim.clock().now_unix()),
                Outcome::Errcode(code),
            )
        }
        FaultAnswer::Transport(transport) => {
            inner.stats.record(api, transport.into());
            if fault.after_processing {
                let _ = process();
            }
            if transport == Transport::Hang {
                hang(sim, delay).await;
            } else {
                pause(delay).await;
            }
            transport_failure(transport)
        }
    }
}

/// Counts and renders a processed call.
fn finish(sim: &Sim, api: Api, processed: Processed) -> Response {
    match processed {
        Ok(body) => {
            sim.inner().stats.record(api, Outcome::Errcode(0));
            json(body, Outcome::Errcode(0))
        }
        Err(code) => {
            sim.inner().stats.record(api, Outcome::Errcode(code));
            json(
                errcode::error_body(code, sim.clock().now_unix()),
                Outcome::Errcode(code),
            )
        }
    }
}

/// HTTP 200 with WeChat's JSON content type. The outcome rides along for the request log.
pub(crate) fn json(body: Vec<u8>, outcome: Outcome) -> Response {
    let content_type = [(header::CONTENT_TYPE, HeaderValue::from_static(WECHAT_JSON))];
    let mut res = (StatusCode::OK, content_type, body).into_response();
    res.extensions_mut().insert(outcome);
    res
}

fn transport_failure(transport: Transport) -> Response {
    let mut res = match transport {
        Transport::Http500 => {
            let html = [(header::CONTENT_TYPE, HeaderValue::from_static("text/html"))];
            (StatusCode::INTERNAL_SERVER_ERROR, html, HTML_500).into_response()
        }
        Transport::TruncatedJson => {
            let content_type = [(header::CONTENT_TYPE, HeaderValue::from_static(WECHAT_JSON))];
            (StatusCode::OK, content_type, TRUNCATED_BODY).into_response()
        }
        // A body that fails makes hyper abort the connection mid-response.
        Transport::Hang | Transport::Reset => {
            let failing = futures::stream::once(async {
                Err::<Bytes, _>(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "simulated reset",
                ))
            });
            let content_type = [(header::CONTENT_TYPE, HeaderValue::from_static(WECHAT_JSON))];
            (StatusCode::OK, content_type, Body::from_stream(failing)).into_response()
        }
    };
    res.extensions_mut().insert(Outcome::from(transport));
    res
}

async fn pause(delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

/// Holds a hung call for `delay` (zero: indefinitely), or until the simulator shuts down,
/// so graceful shutdown is not blocked by it. A client that gives up drops the call anyway.
async fn hang(sim: &Sim, delay: Duration) {
    let mut down = sim.inner().shutdown.subscribe();
    let released = async move {
        let _ = down.wait_for(|down| *down).await;
    };
    if delay.is_zero() {
        released.await;
    } else {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = released => {}
        }
    }
}
