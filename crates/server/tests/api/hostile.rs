//! Hostile input (issue #6): property tests over every request body and the bearer header.
//!
//! Each endpoint gets bodies made of arbitrary JSON (wrong types, nulls, nested objects, huge
//! strings, unicode, missing and extra fields), real values (fresh codes, sessions, tickets,
//! tokens, legacy payloads) with mutations, base64 of every length and broken base64, JSON
//! text with byte edits, and raw bytes. For every answer: never a 5xx, never a code outside the
//! contract or outside what that endpoint can say, always the error shape with the request id,
//! never a message that quotes what was sent. At the end a normal login still works, and the
//! `TestApp` scans every response for leaked secrets when it is dropped.
//!
//! proptest drives the cases from the test thread; each case runs on the app's runtime with
//! `block_on`. Case counts are fixed (not `PROPTEST_CASES`) so the file stays well under 30 s.
//!
//! Long file: the strategies, the contract check and the per-endpoint properties are one
//! machine; the sections below (strategies, harness, properties, edge cases) keep it readable.

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use serde_json::{Map, Value, json};

use crate::helpers::{APP, APP2, PHONE, Res, TestApp};

/// Every error code of docs/api.md.
const CONTRACT_CODES: &[&str] = &[
    "invalid_request",
    "unknown_app",
    "login_code_invalid",
    "login_code_used",
    "login_blocked",
    "session_invalid",
    "phone_code_invalid",
    "session_key_stale",
    "payload_malformed",
    "appid_mismatch",
    "watermark_expired",
    "ticket_invalid",
    "registration_closed",
    "already_registered",
    "unauthenticated",
    "refresh_token_invalid",
    "refresh_token_reused",
    "not_found",
    "method_not_allowed",
    "payload_too_large",
    "rate_limited",
    "wechat_error",
    "wechat_unavailable",
    "unavailable",
    "internal",
];

/// What each endpoint may answer to any input while WeChat (the simulator) is healthy:
/// the success status, then (status, code) of the refusals.
struct Endpoint {
    path: &'static str,
    success: u16,
    refusals: &'static [(u16, &'static str)],
}

const ALWAYS: &[(u16, &str)] = &[
    (400, "invalid_request"),
    (413, "payload_too_large"),
    (429, "rate_limited"),
];

const LOGIN: Endpoint = Endpoint {
    path: "/v1/login",
    success: 200,
    refusals: &[
        (400, "unknown_app"),
        (400, "login_code_invalid"),
        (409, "login_code_used"),
    ],
};
const PHONE_EP: Endpoint = Endpoint {
    path: "/v1/phone",
    success: 200,
    refusals: &[
        (400, "phone_code_invalid"),
        (401, "session_invalid"),
        (422, "session_key_stale"),
        (422, "payload_malformed"),
        (422, "appid_mismatch"),
        (422, "watermark_expired"),
    ],
};
const REGISTER: Endpoint = Endpoint {
    path: "/v1/register",
    success: 201,
    refusals: &[(401, "ticket_invalid"), (409, "already_registered")],
};
const REFRESH: Endpoint = Endpoint {
    path: "/v1/token/refresh",
    success: 200,
    refusals: &[
        (401, "refresh_token_invalid"),
        (401, "refresh_token_reused"),
    ],
};
const LOGOUT: Endpoint = Endpoint {
    path: "/v1/logout",
    success: 204,
    refusals: &[(401, "unauthenticated")],
};
const ME: Endpoint = Endpoint {
    path: "/v1/me",
    success: 200,
    refusals: &[(401, "unauthenticated")],
};

// ---------------------------------------------------------------------------------------
// Generators.

/// Strings a client should never send: arbitrary unicode, controls, huge, tricky literals.
fn hostile_string() -> BoxedStrategy<String> {
    prop_oneof![
        6 => any::<String>(),
        2 => "[\u{0}-\u{1f}\u{7f}\u{80}-\u{9f}\u{200b}-\u{200f}\u{2028}\u{2029}\u{202a}-\u{202e}\u{feff} ]{0,12}",
        1 => Just(String::new()),
        2 => prop::sample::select(vec![
            "null", "true", "0", "-1", "1e999", "NaN", "{}", "[]", "\"", "\\", "\u{0}",
            "../../etc/passwd", "' OR 1=1 --", "%00", "%s%s%n", "\u{feff}", "https://",
            "https:///x", "javascript:alert(1)", "wxs_", "wxt_", "wxr_", "Bearer", "😀",
            "\u{10ffff}", "\u{fffd}",
        ])
        .prop_map(str::to_owned),
        // Long and huge: past the handle bound (256), past the nickname bound (64 chars),
        // and past the whole body limit (16 KiB, also in multi-byte characters).
        1 => (prop::sample::select(vec!["x", "字", "😀", "\u{0}", "\"", "\\"]), 60usize..20_000)
            .prop_map(|(s, n)| s.repeat(n)),
    ]
    .boxed()
}

/// Any JSON value, nested a few levels.
fn any_json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        hostile_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((hostile_string(), inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
    .boxed()
}

/// Standard base64 of `n` random bytes: ivs and ciphertexts of every length.
fn base64_of_any_length() -> BoxedStrategy<String> {
    use base64::Engine as _;
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..80),
        prop::sample::select(vec![0usize, 15, 16, 17, 31, 32, 33, 48, 1000])
            .prop_map(|n| vec![0x5a; n]),
    ]
    .prop_map(|bytes| base64::engine::general_purpose::STANDARD.encode(bytes))
    .boxed()
}

/// Base64 that no strict decoder takes, or that other decoders would.
fn broken_base64() -> BoxedStrategy<String> {
    (
        base64_of_any_length(),
        0usize..64,
        prop::sample::select(vec![
            "!", " ", "\n", "-", "_", "=", "==", "===", "\u{0}", "字", "%3D", "\\u0041",
        ]),
    )
        .prop_map(|(good, at, junk)| {
            let at = floor_char_boundary(&good, at);
            let mut s = good;
            s.insert_str(at, junk);
            s
        })
        .boxed()
}

fn floor_char_boundary(s: &str, at: usize) -> usize {
    let mut at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// How a real value (a fresh code, a live session, ...) is spoiled before it is sent.
#[derive(Debug, Clone)]
enum Mutation {
    Exact,
    Truncate(usize),
    Append(String),
    Prepend(String),
    Replace(usize, char),
    Upper,
    Padded,
    Repeat(usize),
}

fn mutation() -> BoxedStrategy<Mutation> {
    prop_oneof![
        3 => Just(Mutation::Exact),
        1 => (0usize..48).prop_map(Mutation::Truncate),
        1 => hostile_string().prop_map(Mutation::Append),
        1 => "[ \t=+/_-]{1,3}".prop_map(Mutation::Prepend),
        1 => (0usize..48, any::<char>()).prop_map(|(i, c)| Mutation::Replace(i, c)),
        1 => Just(Mutation::Upper),
        1 => Just(Mutation::Padded),
        1 => (2usize..400).prop_map(Mutation::Repeat),
    ]
    .boxed()
}

impl Mutation {
    fn apply(&self, real: &str) -> String {
        match self {
            Self::Exact => real.to_owned(),
            Self::Truncate(n) => real.chars().take(*n).collect(),
            Self::Append(s) => format!("{real}{s}"),
            Self::Prepend(s) => format!("{s}{real}"),
            Self::Replace(i, c) => {
                let mut chars: Vec<char> = real.chars().collect();
                if !chars.is_empty() {
                    let i = i % chars.len();
                    chars[i] = *c;
                }
                chars.into_iter().collect()
            }
            Self::Upper => real.to_uppercase(),
            Self::Padded => format!(" {real}\n"),
            Self::Repeat(n) => real.repeat(*n),
        }
    }
}

/// One field of a body.
#[derive(Debug, Clone)]
enum Slot {
    Absent,
    Json(Value),
    Real(Mutation),
}

/// The generator of one field: `real` says whether a real value exists for it, `extra`
/// adds field-specific values (base64 of any length for ivs, ...).
fn slot(real: bool, extra: Option<BoxedStrategy<String>>) -> BoxedStrategy<Slot> {
    let absent = Just(Slot::Absent).boxed();
    let json = any_json().prop_map(Slot::Json).boxed();
    let real_values = mutation().prop_map(Slot::Real).boxed();
    let extra = extra.map(|s| s.prop_map(|s| Slot::Json(Value::String(s))).boxed());
    match (real, extra) {
        (true, Some(extra)) => {
            prop_oneof![1 => absent, 2 => json, 4 => real_values, 3 => extra].boxed()
        }
        (true, None) => prop_oneof![1 => absent, 2 => json, 4 => real_values].boxed(),
        (false, Some(extra)) => prop_oneof![1 => absent, 2 => json, 3 => extra].boxed(),
        (false, None) => prop_oneof![1 => absent, 2 => json].boxed(),
    }
}

/// A byte-level edit of a JSON text.
#[derive(Debug, Clone)]
enum Edit {
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
}

fn edit() -> BoxedStrategy<Edit> {
    let snippet = prop_oneof![
        prop::sample::select(vec![
            ",",
            "}",
            "{",
            "]",
            "[",
            "\"",
            ":",
            "\\",
            "\\u",
            "\\ud800",
            "\\udfff\\ud800",
            "/* */",
            "NaN",
            "Infinity",
            "1e999999",
            "-0",
            "\u{feff}",
            "\u{0}",
            "\"code\":1,",
            "\"code\":\"dup\",",
            "\"__proto__\":{},",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 1..4),
    ];
    prop_oneof![
        (0usize..400).prop_map(Edit::Truncate),
        (0usize..400, snippet).prop_map(|(at, s)| Edit::Insert(at, s)),
        (0usize..400, 1usize..8).prop_map(|(at, n)| Edit::Delete(at, n)),
    ]
    .boxed()
}

/// The whole body of one case.
#[derive(Debug, Clone)]
enum Shape {
    /// An object with the endpoint's fields (or some of them) plus extra fields.
    Fields(Vec<Slot>, Vec<(String, Value)>),
    /// The same, serialised, then edited byte by byte.
    Edited(Vec<Slot>, Vec<Edit>),
    /// Any JSON at the top level (arrays, strings, numbers, null).
    Json(Value),
    /// Not JSON at all.
    Raw(Vec<u8>),
}

fn shape(slots: Vec<BoxedStrategy<Slot>>) -> BoxedStrategy<Shape> {
    let extras = prop::collection::vec((hostile_string(), any_json()), 0..3);
    prop_oneof![
        6 => (slots.clone(), extras).prop_map(|(s, e)| Shape::Fields(s, e)),
        2 => (slots, prop::collection::vec(edit(), 1..4)).prop_map(|(s, e)| Shape::Edited(s, e)),
        1 => any_json().prop_map(Shape::Json),
        1 => prop::collection::vec(any::<u8>(), 0..512).prop_map(Shape::Raw),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------------------
// Running cases.

/// A runtime of its own, so that proptest's synchronous runner can `block_on` each case.
struct Bench {
    // Dropped before the runtime.
    app: Option<TestApp>,
    rt: tokio::runtime::Runtime,
}

impl Bench {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let app = rt.block_on(TestApp::spawn());
        Self { app: Some(app), rt }
    }

    fn app(&self) -> &TestApp {
        self.app.as_ref().unwrap()
    }

    fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.rt.block_on(fut)
    }

    /// Runs `cases` cases of `strategy`; a failure is shrunk (a little) and reported.
    fn check<S>(
        &self,
        name: &str,
        cases: u32,
        strategy: S,
        case: impl AsyncFn(&TestApp, S::Value) -> Result<(), TestCaseError>,
    ) where
        S: Strategy,
        S::Value: std::fmt::Debug,
    {
        let mut runner = TestRunner::new(Config {
            cases,
            max_shrink_iters: 64,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(&strategy, |value| self.rt.block_on(case(self.app(), value)));
        match result {
            Ok(()) => {}
            Err(TestError::Fail(reason, value)) => {
                let shown = format!("{value:?}");
                let shown: String = shown.chars().take(4000).collect();
                panic!("{name}: {reason}\nminimal failing input: {shown}");
            }
            Err(TestError::Abort(reason)) => panic!("{name}: aborted: {reason}"),
        }
    }

    /// The server still works: a normal login, then the app is dropped (the secret scan).
    fn finish(mut self) {
        let app = self.app.take().unwrap();
        self.rt.block_on(async move {
            let res = app.login(&app.login_code("after-the-storm")).await;
            assert!(res.ok()["session"].is_string(), "{}", res.body);
            let health = app.get("/healthz", None).await;
            assert_eq!(health.status, 200);
            drop(app);
        });
    }
}

/// Sends one request. Our own rate limits (when enforced: the test config keeps the
/// defaults) are waited out, not failed: first by moving the clocks on, then by sleeping.
async fn send(app: &TestApp, build: impl Fn() -> reqwest::RequestBuilder) -> Res {
    // No connection reuse: a connection the server closes after refusing an unread body
    // (413) must not fail the next request of the test.
    // One client per test thread (each test has its own runtime).
    thread_local! {
        static FRESH: reqwest::Client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
    }
    let fresh = FRESH.with(Clone::clone);
    let build = || {
        let (_, req) = build().build_split();
        reqwest::RequestBuilder::from_parts(fresh.clone(), req.unwrap())
    };
    let mut res = app.send(build()).await;
    for attempt in 0..6 {
        if !(res.status == 429 && res.code() == "rate_limited") {
            break;
        }
        let secs = res
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(1u64)
            .clamp(1, 5);
        app.advance(Duration::from_secs(secs));
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(secs)).await;
        }
        res = app.send(build()).await;
    }
    res
}

/// The request fields of the contract: messages may name them (`missing field `code``).
const FIELD_NAMES: &[&str] = &[
    "code",
    "appid",
    "session",
    "encrypted_data",
    "iv",
    "registration_ticket",
    "nickname",
    "avatar_url",
    "refresh_token",
    "all_devices",
];

/// Strings of `value` long enough that seeing one in an error message means it was quoted.
fn quotable(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) if s.chars().count() >= 12 && !FIELD_NAMES.contains(&s.as_str()) => {
            out.push(s.clone());
        }
        Value::Array(items) => items.iter().for_each(|v| quotable(v, out)),
        Value::Object(map) => map.iter().for_each(|(k, v)| {
            quotable(&Value::String(k.clone()), out);
            quotable(v, out);
        }),
        _ => {}
    }
}

/// The property every answer must have.
fn keeps_the_contract(ep: &Endpoint, res: &Res, sent: &Value) -> Result<(), TestCaseError> {
    prop_assert!(res.status < 500, "{}: {} {}", ep.path, res.status, res.body);
    if (200..300).contains(&res.status) {
        prop_assert_eq!(res.status, ep.success, "{}: {}", ep.path, res.body);
        if res.status == 204 {
            prop_assert_eq!(&res.body, &Value::Null);
        } else {
            prop_assert!(res.body.is_object(), "{}: {}", ep.path, res.body);
        }
        return Ok(());
    }
    let error = &res.body["error"];
    prop_assert!(
        error.is_object(),
        "{}: not the error shape: {}",
        ep.path,
        res.body
    );
    let code = res.code();
    prop_assert!(
        CONTRACT_CODES.contains(&code),
        "{}: {code} is not a contract code",
        ep.path
    );
    prop_assert!(
        ALWAYS
            .iter()
            .chain(ep.refusals)
            .any(|&(s, c)| (s, c) == (res.status, code)),
        "{}: {} {code} is not an answer this endpoint gives: {}",
        ep.path,
        res.status,
        res.body
    );
    let request_id = error["request_id"].as_str().unwrap_or_default();
    prop_assert!(!request_id.is_empty(), "{}: no request_id", ep.path);
    prop_assert_eq!(
        res.headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some(request_id)
    );
    let message = error["message"].as_str().unwrap_or_default();
    prop_assert!(!message.is_empty(), "{}: no message", ep.path);
    let mut strings = Vec::new();
    quotable(sent, &mut strings);
    for s in strings {
        prop_assert!(
            !message.contains(&s),
            "{}: the message quotes a value that was sent: {message}",
            ep.path
        );
    }
    Ok(())
}

/// Builds the JSON (and the bytes) of a shape; `real(i)` is the real value of field `i`.
fn materialise(fields: &[&str], shape: &Shape, real: &dyn Fn(usize) -> Value) -> (Vec<u8>, Value) {
    let object = |slots: &[Slot], extra: &[(String, Value)]| {
        let mut map = Map::new();
        for (k, v) in extra {
            map.insert(k.clone(), v.clone());
        }
        for (i, (name, slot)) in fields.iter().zip(slots).enumerate() {
            let value = match slot {
                Slot::Absent => continue,
                Slot::Json(v) => v.clone(),
                Slot::Real(m) => match real(i) {
                    Value::String(s) => Value::String(m.apply(&s)),
                    other if matches!(m, Mutation::Exact) => other,
                    other => Value::String(m.apply(&other.to_string())),
                },
            };
            map.insert((*name).to_owned(), value);
        }
        Value::Object(map)
    };
    match shape {
        Shape::Fields(slots, extra) => {
            let v = object(slots, extra);
            (serde_json::to_vec(&v).unwrap(), v)
        }
        Shape::Edited(slots, edits) => {
            let v = object(slots, &[]);
            let mut bytes = serde_json::to_vec(&v).unwrap();
            for e in edits {
                match e {
                    Edit::Truncate(n) => bytes.truncate(*n),
                    Edit::Insert(at, s) => {
                        let at = (*at).min(bytes.len());
                        bytes.splice(at..at, s.iter().copied());
                    }
                    Edit::Delete(at, n) => {
                        let at = (*at).min(bytes.len());
                        let end = (at + n).min(bytes.len());
                        bytes.drain(at..end);
                    }
                }
            }
            (bytes, v)
        }
        Shape::Json(v) => (serde_json::to_vec(v).unwrap(), v.clone()),
        Shape::Raw(bytes) => (bytes.clone(), Value::Null),
    }
}

fn uses_real(shape: &Shape, field: usize) -> bool {
    match shape {
        Shape::Fields(slots, _) | Shape::Edited(slots, _) => {
            matches!(slots.get(field), Some(Slot::Real(_)))
        }
        _ => false,
    }
}

/// Posts a case's body and checks the answer.
async fn post_case(
    app: &TestApp,
    ep: &Endpoint,
    bytes: Vec<u8>,
    sent: &Value,
    bearer: Option<&str>,
) -> Result<Res, TestCaseError> {
    let url = format!("{}{}", app.addr, ep.path);
    let res = send(app, || {
        let mut req = app
            .http
            .post(&url)
            .header("content-type", "application/json")
            .body(bytes.clone());
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        req
    })
    .await;
    keeps_the_contract(ep, &res, sent)?;
    Ok(res)
}

// ---------------------------------------------------------------------------------------
// The properties, one endpoint each.

#[test]
fn hostile_login_bodies_keep_the_contract() {
    let bench = Bench::new();
    let fields = ["code", "appid"];
    let appids = prop::sample::select(vec![
        APP,
        APP2,
        "wx0000000000000009",
        "",
        "WX0000000000000001",
    ])
    .prop_map(str::to_owned)
    .boxed();
    let strategy = shape(vec![slot(true, None), slot(true, Some(appids))]);
    bench.check("POST /v1/login", 128, strategy, async |app, shape| {
        let code = uses_real(&shape, 0).then(|| app.login_code("mallory"));
        let real = |i: usize| match i {
            0 => json!(code.clone().unwrap_or_default()),
            _ => json!(APP),
        };
        let (bytes, sent) = materialise(&fields, &shape, &real);
        post_case(app, &LOGIN, bytes, &sent, None).await?;
        Ok(())
    });
    bench.finish();
}

#[test]
fn hostile_phone_bodies_keep_the_contract() {
    let bench = Bench::new();
    let session = bench.block_on(bench.app().session_for("mallory"));
    let fields = ["session", "appid", "code", "encrypted_data", "iv"];
    let b64 = || prop_oneof![base64_of_any_length(), broken_base64()].boxed();
    let strategy = shape(vec![
        slot(true, None),
        slot(true, None),
        slot(true, None),
        slot(true, Some(b64())),
        slot(true, Some(b64())),
    ]);
    bench.check("POST /v1/phone", 128, strategy, async |app, shape| {
        let code = uses_real(&shape, 2).then(|| app.phone_code("mallory", "+8613900000001"));
        let legacy = (uses_real(&shape, 3) || uses_real(&shape, 4))
            .then(|| app.encrypted_phone("mallory", "+8613900000001"));
        let real = |i: usize| match i {
            0 => json!(session),
            1 => json!(APP),
            2 => json!(code.clone().unwrap_or_default()),
            3 => json!(legacy.clone().unwrap_or_default().0),
            _ => json!(legacy.clone().unwrap_or_default().1),
        };
        let (bytes, sent) = materialise(&fields, &shape, &real);
        post_case(app, &PHONE_EP, bytes, &sent, None).await?;
        Ok(())
    });
    bench.finish();
}

#[test]
fn hostile_register_bodies_keep_the_contract() {
    let bench = Bench::new();
    let fields = ["registration_ticket", "nickname", "avatar_url"];
    let urls = prop::sample::select(vec![
        "https://cdn.example.com/a.png",
        "http://cdn.example.com/a.png",
        "https://",
        "https:///a",
        "HTTPS://CDN.EXAMPLE.COM/A.PNG",
        "https://cdn.example.com/a b.png",
        "https://cdn.example.com/\u{0}",
        "data:image/png;base64,AAAA",
    ])
    .prop_map(str::to_owned)
    .boxed();
    let strategy = shape(vec![
        slot(true, None),
        slot(true, Some(hostile_string())),
        slot(true, Some(urls)),
    ]);
    let next_user = std::sync::atomic::AtomicU32::new(1);
    bench.check("POST /v1/register", 64, strategy, async |app, shape| {
        let ticket = if uses_real(&shape, 0) {
            let n = next_user.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Some(
                app.ticket_for(&format!("reg-{n}"), &format!("+86139{n:08}"))
                    .await,
            )
        } else {
            None
        };
        let real = |i: usize| match i {
            0 => json!(ticket.clone().unwrap_or_default()),
            1 => json!("Mallory 小明"),
            _ => json!("https://cdn.example.com/avatar.png"),
        };
        let (bytes, sent) = materialise(&fields, &shape, &real);
        post_case(app, &REGISTER, bytes, &sent, None).await?;
        Ok(())
    });
    bench.finish();
}

/// A registered user's fresh tokens, by silent login.
async fn fresh_tokens(app: &TestApp, user: &str) -> (String, String) {
    let res = app.login(&app.login_code(user)).await;
    let tokens = &res.ok()["tokens"];
    (
        tokens["access_token"].as_str().unwrap().to_owned(),
        tokens["refresh_token"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn hostile_refresh_bodies_keep_the_contract() {
    let bench = Bench::new();
    bench.block_on(bench.app().register_user("rita", PHONE));
    let fields = ["refresh_token"];
    let strategy = shape(vec![slot(true, None)]);
    bench.check(
        "POST /v1/token/refresh",
        96,
        strategy,
        async |app, shape| {
            let token = if uses_real(&shape, 0) {
                Some(fresh_tokens(app, "rita").await.1)
            } else {
                None
            };
            let real = |_| json!(token.clone().unwrap_or_default());
            let (bytes, sent) = materialise(&fields, &shape, &real);
            post_case(app, &REFRESH, bytes, &sent, None).await?;
            Ok(())
        },
    );
    bench.finish();
}

#[test]
fn hostile_logout_bodies_keep_the_contract() {
    let bench = Bench::new();
    bench.block_on(bench.app().register_user("lou", PHONE));
    let fields = ["all_devices"];
    let strategy = shape(vec![slot(true, None)]);
    bench.check("POST /v1/logout", 96, strategy, async |app, shape| {
        // A live access token, so that the body is read at all.
        let (access, _) = fresh_tokens(app, "lou").await;
        let real = |_| json!(true);
        let (bytes, sent) = materialise(&fields, &shape, &real);
        let res = post_case(app, &LOGOUT, bytes, &sent, Some(&access)).await?;
        // The token was live: only the body can have been refused.
        prop_assert!(res.status != 401, "{}", res.body);
        Ok(())
    });
    bench.finish();
}

/// An `Authorization` header value.
#[derive(Debug, Clone)]
enum Auth {
    /// `Bearer <a live access token>`, mutated.
    Real(Mutation, String),
    /// A JWT made up from the real one: segments swapped in from arbitrary JSON or bytes.
    Forged(Option<Value>, Option<Value>, Option<String>),
    /// Arbitrary bytes (those the http crate accepts as a header value).
    Raw(Vec<u8>),
}

#[test]
fn hostile_authorization_headers_keep_the_contract() {
    use base64::Engine as _;
    let b64url = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let bench = Bench::new();
    let access = bench.block_on(async {
        bench.app().register_user("meg", PHONE).await;
        fresh_tokens(bench.app(), "meg").await.0
    });
    let headers = prop_oneof![
        Just(json!({"alg": "none", "typ": "JWT"})),
        Just(json!({"alg": "HS256", "typ": "JWT"})),
        Just(json!({"alg": "EdDSA", "kid": "unknown"})),
        Just(json!({"alg": "EdDSA", "kid": {"$ne": 1}})),
        any_json(),
    ];
    let claims = prop_oneof![
        Just(json!({"sub": "u", "exp": 9_999_999_999u64, "aud": "wxlogin"})),
        any_json(),
    ];
    let scheme = prop::sample::select(vec![
        "Bearer ", "bearer ", "BEARER  ", "Bearer\t", "Basic ", "Token ", "", " Bearer ",
    ]);
    let strategy = prop_oneof![
        3 => (mutation(), scheme.prop_map(str::to_owned)).prop_map(|(m, s)| Auth::Real(m, s)),
        2 => (
            prop::option::of(headers),
            prop::option::of(claims),
            prop::option::of(prop_oneof![Just(String::new()), "[A-Za-z0-9_-]{0,100}"])
        )
            .prop_map(|(h, c, s)| Auth::Forged(h, c, s)),
        1 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Auth::Raw),
    ];
    bench.check("GET /v1/me", 128, strategy, async |app, auth| {
        let value: Vec<u8> = match &auth {
            Auth::Real(m, scheme) => format!("{scheme}{}", m.apply(&access)).into_bytes(),
            Auth::Forged(h, c, s) => {
                let mut parts = access.split('.').map(str::to_owned).collect::<Vec<_>>();
                if let Some(h) = h {
                    parts[0] = b64url(h.to_string().as_bytes());
                }
                if let Some(c) = c {
                    parts[1] = b64url(c.to_string().as_bytes());
                }
                if let Some(s) = s {
                    parts[2] = s.clone();
                }
                format!("Bearer {}", parts.join(".")).into_bytes()
            }
            Auth::Raw(bytes) => bytes.clone(),
        };
        let Ok(header) = reqwest::header::HeaderValue::from_bytes(&value) else {
            // Not sendable over HTTP/1.1 by a conforming client.
            return Ok(());
        };
        let url = format!("{}/v1/me", app.addr);
        let res = send(app, || {
            app.http
                .get(&url)
                .header(reqwest::header::AUTHORIZATION, header.clone())
        })
        .await;
        keeps_the_contract(&ME, &res, &Value::Null)?;
        if res.status == 401 {
            prop_assert_eq!(
                res.headers
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok()),
                Some("Bearer")
            );
        }
        Ok(())
    });
    bench.finish();
}

// ---------------------------------------------------------------------------------------
// Fixed cases the generators reach only by luck.

#[tokio::test]
async fn every_iv_and_ciphertext_length_is_malformed_unless_it_is_possible() {
    use base64::Engine as _;
    let b64 = |n: usize| base64::engine::general_purpose::STANDARD.encode(vec![0xa5u8; n]);
    let app = TestApp::spawn().await;
    let session = app.session_for("alice").await;
    let (data, iv) = app.encrypted_phone("alice", PHONE);
    for n in (0..=40).chain([64, 255, 1000, 4096]) {
        let res = app.phone_by_data(&session, &(data.clone(), b64(n))).await;
        if n == 16 {
            // Possible, and wrong: the first block decrypts to garbage.
            assert_ne!(res.code(), "payload_malformed", "{}", res.body);
            assert_eq!(res.status, 422, "{}", res.body);
        } else {
            res.assert_error(422, "payload_malformed");
        }
    }
    for n in (0..=80).chain([1000, 1001, 4095]) {
        let res = app.phone_by_data(&session, &(b64(n), iv.clone())).await;
        if n > 0 && n % 16 == 0 {
            res.assert_error(422, "session_key_stale");
        } else {
            res.assert_error(422, "payload_malformed");
        }
    }
    // Base64 that lenient decoders take: URL alphabet, missing padding, whitespace.
    let url_safe = data.replace('+', "-").replace('/', "_");
    let unpadded = iv.trim_end_matches('=').to_owned();
    for case in [
        (url_safe, iv.clone()),
        (data.clone(), unpadded),
        (format!("{data}\n"), iv.clone()),
        (data.clone(), format!(" {iv}")),
    ] {
        if case.0 == data && case.1 == iv {
            continue;
        }
        app.phone_by_data(&session, &case)
            .await
            .assert_error(422, "payload_malformed");
    }
    // The untouched pair still verifies the phone.
    assert_eq!(
        app.phone_by_data(&session, &app.encrypted_phone("alice", PHONE))
            .await
            .ok()["registered"],
        false
    );
}

#[tokio::test]
async fn pathological_json_is_an_invalid_request_on_every_endpoint() {
    let app = TestApp::spawn().await;
    app.register_user("alice", PHONE).await;
    let deep = |n: usize| format!(r#"{{"code":"c","x":{}{}}}"#, "[".repeat(n), "]".repeat(n));
    let deep_objects = format!(r#"{}1{}"#, r#"{"a":"#.repeat(3000), "}".repeat(3000));
    let bodies: Vec<Vec<u8>> = vec![
        deep(127).into_bytes(),
        deep(129).into_bytes(),
        deep(8000).into_bytes(),
        deep_objects.into_bytes(),
        b"\xef\xbb\xbf{\"code\":\"c\"}".to_vec(),
        br#"{"code":"a","code":"b"}"#.to_vec(),
        br#"{"code":"\ud800"}"#.to_vec(),
        b"{\"code\":\"\xff\xfe\"}".to_vec(),
        br#"{"code":"c",}"#.to_vec(),
        br#"{"code":1e999999}"#.to_vec(),
        br#"{"code":NaN}"#.to_vec(),
        br#"{"code":"c"} {"code":"d"}"#.to_vec(),
        br#"{"code":"c"}garbage"#.to_vec(),
        b"\0".to_vec(),
        b"[".repeat(16_000),
        b" ".repeat(16_384),
    ];
    for ep in [&LOGIN, &PHONE_EP, &REGISTER, &REFRESH, &LOGOUT] {
        for body in &bodies {
            let logout = ep.path == "/v1/logout";
            let bearer = if logout {
                Some(fresh_tokens(&app, "alice").await.0)
            } else {
                None
            };
            let res = post_case(&app, ep, body.clone(), &Value::Null, bearer.as_deref())
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", ep.path));
            // Logout's body is optional and its one field too; nothing else here passes.
            // Unknown fields, duplicated or however deep, are skipped, so logout may take
            // more of these than the others.
            let optional = logout;
            if !optional {
                assert_ne!(
                    res.status / 100,
                    2,
                    "{}: {}",
                    ep.path,
                    String::from_utf8_lossy(body)
                );
            }
        }
    }
    let res = app.login(&app.login_code("alice")).await;
    assert!(res.ok()["session"].is_string());
}
