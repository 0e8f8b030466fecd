//! The simulator's request log: one line per request, without secrets. In a test binary of
//! its own: tracing caches each callsite's interest for the whole process, so a test that
//! captures logs with a scoped subscriber, run beside tests whose threads have none, can find
//! the simulator's callsites already cached as "never" and capture nothing.

// Test helpers sit outside #[test] fns, where clippy's allow-unwrap-in-tests doesn't reach.
#![allow(clippy::unwrap_used, missing_docs)]

use std::io;
use std::sync::{Arc, Mutex};

use serde_json::json;

#[allow(dead_code)]
#[path = "sim/helpers.rs"]
mod helpers;

use helpers::*;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn each_request_logs_one_line_without_query_secrets_codes_or_keys() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("wxlogin_wechat_sim=info")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // current_thread runtime: the server task runs on this thread, under this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);
    let t = TestSim::spawn().await;

    let code = t.login_code(APP_A, "alice").await;
    let session = t.jscode2session(APP_A, &code).await;
    let reused = t.jscode2session(APP_A, &code).await;
    let token = t.access_token(APP_A).await;
    let phone_code = t.phone_code(APP_A, "alice", "+8613800138000").await;
    t.phone_number(&token, json!({"code": phone_code})).await;

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 6, "{log}");
    let exchange = lines[1];
    assert!(exchange.contains("GET"), "{exchange}");
    assert!(exchange.contains("/sns/jscode2session"), "{exchange}");
    assert!(exchange.contains("200"), "{exchange}");
    assert!(exchange.contains("errcode=0"), "{exchange}");
    assert!(lines[2].contains("errcode=40163"), "{}", lines[2]);
    for secret in [
        SECRET_A,
        &code,
        str_field(&session, "session_key"),
        &token,
        &phone_code,
        "js_code",
        "13800138000",
    ] {
        assert!(!log.contains(secret), "log leaks {secret:?}: {log}");
    }
    assert_eq!(errcode(&reused), 40163);
}
