// Test support code: a panic is how a broken expectation is reported.
#![allow(clippy::unwrap_used, missing_docs, dead_code)]

//! A failure is logged once, with its cause, where it is turned into a response
//! (`wxlogin_core::cause`): not again by each layer it passes through on the way up. Its own
//! binary, because it installs the process-wide subscriber (tracing's callsite cache is
//! process-wide too: beside other tests it would capture nothing).

#[path = "api/helpers.rs"]
mod helpers;
#[path = "support/log_capture.rs"]
mod log_capture;

use helpers::{PHONE, Res, TestApp};
use log_capture::Capture;
use serde_json::Value;
use wxlogin_wechat_sim::{Api, Fault, Transport};

impl Capture {
    /// Every log line (JSON) emitted in the span of the request that answered `res`, but the
    /// access-log line every request gets.
    fn lines_of(&self, res: &Res) -> Vec<Value> {
        let request_id = res.body["error"]["request_id"].as_str().unwrap().to_owned();
        let logs = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        logs.lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .filter(|line| {
                line["spans"]
                    .as_array()
                    .is_some_and(|spans| spans.iter().any(|s| s["request_id"] == request_id))
            })
            .filter(|line| line["message"] != "request")
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_is_logged_once_with_its_cause_where_it_becomes_a_response() {
    let capture = Capture::default();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(true)
        .with_writer(capture.clone())
        .init();
    let app = TestApp::spawn().await;
    let alice = app.register_user("alice", PHONE).await;

    // The store fails under a request: core carries the error up as the cause of
    // `unavailable`, and the response logs it, once, with the store's own words.
    app.store.close().await;
    let res = app.me(&alice.access_token).await;
    res.assert_error(503, "unavailable");
    let lines = capture.lines_of(&res);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let line = &lines[0];
    assert_eq!(line["level"], "WARN", "{line}");
    assert_eq!(line["code"], "unavailable", "{line}");
    let error = line["error"].as_str().unwrap();
    assert!(
        error.contains("store unavailable (") && error.ends_with(": database closed"),
        "the operation and the cause: {error}"
    );
    // The body still says nothing of it.
    assert!(
        !res.body.to_string().contains("database closed"),
        "{}",
        res.body
    );

    // A WeChat failure: the adapter, where the cause ends, logs it with its chain; core and
    // the response add nothing.
    app.fault(Fault::transport(
        Api::Jscode2session,
        Transport::TruncatedJson,
    ));
    let res = app.login(&app.login_code("bob")).await;
    res.assert_error(503, "wechat_unavailable");
    let lines = capture.lines_of(&res);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let error = lines[0]["error"].as_str().unwrap();
    assert!(
        error.starts_with("unreadable reply from wechat: eof error at line 1"),
        "{error}"
    );
}
