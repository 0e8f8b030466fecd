//! One info line per request: method, path, status and WeChat errcode.
//!
//! The path is logged without its query string, because WeChat's query carries the AppSecret
//! and codes; bodies are never logged.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

use crate::stats::Outcome;

pub(crate) async fn log_request(req: Request, next: Next) -> Response {
    if !tracing::enabled!(tracing::Level::INFO) {
        return next.run(req).await;
    }
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let res = next.run(req).await;
    let errcode = res
        .extensions()
        .get::<Outcome>()
        .map(tracing::field::display);
    tracing::info!(
        method = %method,
        path = %path,
        status = res.status().as_u16(),
        errcode,
        "wechat-sim request"
    );
    res
}
