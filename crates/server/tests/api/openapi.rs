//! `GET /openapi.json`: the document covers the router, lists the contract's statuses and
//! codes for each route, and real response bodies validate against their schemas.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::helpers::{APP, PHONE, Res, TestApp};

async fn document(app: &TestApp) -> Value {
    let res = app
        .http
        .get(format!("{}/openapi.json", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    res.json().await.unwrap()
}

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// (method, path) of every operation in the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(method).is_some() {
                ops.insert((method.to_owned(), path.clone()));
            }
        }
    }
    ops
}

/// (method, path) of every `.route(...)` in `routes::router` (`routes/mod.rs`): the public
/// router as written. (`admin_router` is on the admin listener, outside the document.)
fn routes_in_source() -> BTreeSet<(String, String)> {
    let file =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/routes/mod.rs")).unwrap();
    let start = file.find("pub fn router(").unwrap();
    let source = &file[start..start + file[start..].find("\n}\n").unwrap()];
    let mut routes = BTreeSet::new();
    for chunk in source.split(".route(").skip(1) {
        let path = chunk.split('"').nth(1).unwrap().to_owned();
        // The method router is the rest of the call: up to the parenthesis closing `.route(`.
        let mut depth = 1;
        let end = chunk
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .unwrap()
            .0;
        let call = &chunk[..end];
        for method in METHODS {
            let called = call
                .match_indices(&format!("{method}("))
                .any(|(i, _)| i == 0 || !call.as_bytes()[i - 1].is_ascii_alphanumeric());
            if called {
                routes.insert((method.to_owned(), path.clone()));
            }
        }
    }
    assert!(routes.len() > 10, "parsed too few routes: {routes:?}");
    routes
}

#[tokio::test]
async fn the_document_describes_exactly_the_routes_the_router_serves() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(operations(&doc), routes_in_source());

    // And each one is routed: no 404 or 405 for what the document says exists. (A path with a
    // parameter is asked with the template itself, which names no avatar: 404 is its answer.)
    for (method, path) in operations(&doc)
        .into_iter()
        .filter(|(_, p)| !p.contains('{'))
    {
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let res = app
            .http
            .request(method.clone(), format!("{}{path}", app.addr))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        assert!(
            status != 404 && status != 405,
            "{method} {path} answered {status}"
        );
    }
}

/// (status, code) pairs a route must document; an empty code is a success or a non-error body.
type Statuses = Vec<(u16, &'static str)>;

/// The contract's error table, per route: (method, path, statuses).
fn contract() -> Vec<(&'static str, &'static str, Statuses)> {
    let body = [(400, "invalid_request"), (413, "payload_too_large")];
    let common = [
        (429, "rate_limited"),
        (503, "unavailable"),
        (500, "internal"),
    ];
    let v1 = |own: &[(u16, &'static str)]| own.iter().chain(&common).copied().collect::<Statuses>();
    vec![
        (
            "post",
            "/v1/login",
            v1(&[
                (200, ""),
                body[0],
                body[1],
                (400, "unknown_app"),
                (400, "login_code_invalid"),
                (409, "login_code_used"),
                (403, "login_blocked"),
                (403, "user_disabled"),
                (502, "wechat_error"),
                (503, "wechat_unavailable"),
            ]),
        ),
        (
            "post",
            "/v1/phone",
            v1(&[
                (200, ""),
                body[0],
                body[1],
                (401, "session_invalid"),
                (400, "phone_code_invalid"),
                (422, "session_key_stale"),
                (422, "payload_malformed"),
                (422, "appid_mismatch"),
                (422, "watermark_expired"),
                (403, "registration_closed"),
                (403, "user_disabled"),
                (409, "phone_bound_elsewhere"),
                (502, "wechat_error"),
                (503, "wechat_unavailable"),
            ]),
        ),
        (
            "post",
            "/v1/register",
            v1(&[
                (201, ""),
                body[0],
                body[1],
                (401, "ticket_invalid"),
                (403, "registration_closed"),
                (409, "already_registered"),
            ]),
        ),
        (
            "post",
            "/v1/token/refresh",
            v1(&[
                (200, ""),
                body[0],
                body[1],
                (401, "refresh_token_invalid"),
                (401, "refresh_token_reused"),
                (403, "user_disabled"),
            ]),
        ),
        (
            "post",
            "/v1/logout",
            v1(&[(204, ""), body[0], body[1], (401, "unauthenticated")]),
        ),
        (
            "get",
            "/v1/me",
            v1(&[(200, ""), (401, "unauthenticated"), (403, "user_disabled")]),
        ),
        (
            "patch",
            "/v1/me",
            v1(&[
                (200, ""),
                body[0],
                (401, "unauthenticated"),
                (403, "user_disabled"),
            ]),
        ),
        (
            "delete",
            "/v1/me",
            v1(&[(204, ""), (401, "unauthenticated"), (403, "user_disabled")]),
        ),
        (
            "post",
            "/v1/me/phone",
            v1(&[
                (200, ""),
                body[0],
                body[1],
                (401, "unauthenticated"),
                (401, "session_invalid"),
                (409, "phone_taken"),
                (400, "phone_code_invalid"),
                (422, "session_key_stale"),
                (502, "wechat_error"),
                (503, "wechat_unavailable"),
            ]),
        ),
        (
            "get",
            "/v1/me/export",
            v1(&[(200, ""), (401, "unauthenticated")]),
        ),
        (
            "post",
            "/v1/avatar",
            v1(&[
                (201, ""),
                body[0],
                body[1],
                (401, "unauthenticated"),
                (401, "ticket_invalid"),
                (422, "image_invalid"),
            ]),
        ),
        ("get", "/avatars/{id}", vec![(200, ""), (404, "not_found")]),
        ("get", "/healthz", vec![(200, "")]),
        ("get", "/readyz", vec![(200, ""), (503, "")]),
        ("get", "/.well-known/jwks.json", vec![(200, "")]),
        ("get", "/.well-known/openid-configuration", vec![(200, "")]),
        ("get", "/openapi.json", vec![(200, "")]),
    ]
}

/// The codes an error response narrows `error.code` to.
fn documented_codes(response: &Value) -> Vec<String> {
    let schema = &response["content"]["application/json"]["schema"];
    schema["allOf"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["properties"]["error"]["properties"]["code"]["enum"].as_array())
        .flatten()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_route_documents_the_statuses_and_codes_of_the_contract() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let all_codes: Vec<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for (method, path, expected) in contract() {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        for (status, code) in expected {
            let response = &op["responses"][status.to_string()];
            assert!(
                response.is_object(),
                "{method} {path}: {status} is not documented"
            );
            if !code.is_empty() {
                assert!(all_codes.contains(&code), "{code} missing from ErrorCode");
                assert!(
                    documented_codes(response).iter().any(|c| c == code),
                    "{method} {path} {status}: `{code}` is not listed"
                );
            }
        }
    }
    // Bearer auth on the routes that take an access token, and nowhere else (optional on the
    // avatar upload, which also takes a registration ticket).
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for (method, path) in operations(&doc) {
        let secured = doc["paths"][&path][&method]["security"].is_array();
        assert_eq!(
            secured,
            path.starts_with("/v1/me") || path == "/v1/logout" || path == "/v1/avatar",
            "{method} {path}"
        );
    }
    // The generic codes that no route lists are still in the enum.
    for code in ["not_found", "method_not_allowed"] {
        assert!(all_codes.contains(&code), "{code}");
    }
}

/// Where `body` breaks the schema the document gives for `status` of the operation.
fn violations(doc: &Value, method: &str, path: &str, status: u16, body: &Value) -> Vec<String> {
    let response = &doc["paths"][path][method]["responses"][status.to_string()];
    assert!(
        response.is_object(),
        "{method} {path}: {status} is not documented (body {body})"
    );
    let Some(schema) = response["content"]["application/json"]["schema"].as_object() else {
        assert!(body.is_null(), "{method} {path}: undocumented body {body}");
        return Vec::new();
    };
    // The schema's `$ref`s point into the document's components: validate with the
    // components beside it, at the root.
    let mut root = schema.clone();
    root.insert("components".into(), doc["components"].clone());
    let validator = jsonschema::draft202012::new(&Value::Object(root)).unwrap();
    validator
        .iter_errors(body)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect()
}

/// Validates a real response against the schema the document gives for it.
#[track_caller]
fn assert_conforms(doc: &Value, method: &str, path: &str, res: &Res) {
    let errors = violations(doc, method, path, res.status, &res.body);
    assert!(
        errors.is_empty(),
        "{method} {path} {}: {errors:?}\nbody: {}",
        res.status,
        res.body
    );
}

#[tokio::test]
async fn the_schemas_refuse_what_the_contract_does_not_say() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let error = |code: &str| json!({"error": {"code": code, "message": "m", "request_id": "r"}});
    assert!(violations(&doc, "get", "/v1/me", 401, &error("unauthenticated")).is_empty());
    // A code the route does not list for that status, and one that is no code at all.
    assert!(!violations(&doc, "get", "/v1/me", 401, &error("ticket_invalid")).is_empty());
    assert!(!violations(&doc, "get", "/v1/me", 401, &error("nope")).is_empty());
    assert!(
        !violations(
            &doc,
            "get",
            "/v1/me",
            401,
            &json!({"code": "unauthenticated"})
        )
        .is_empty()
    );
    // A login without its session, a phone answer of neither shape.
    let login = json!({"session_expires_in": 1, "registered": false});
    assert!(!violations(&doc, "post", "/v1/login", 200, &login).is_empty());
    let phone = json!({"registered": false, "registration_ticket": "t"});
    assert!(!violations(&doc, "post", "/v1/phone", 200, &phone).is_empty());
}

#[tokio::test]
async fn real_bodies_validate_against_their_schemas() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;

    // A new user: login, phone (not registered), register, refresh, me, logout.
    let login = app.login(&app.login_code("alice")).await;
    assert_conforms(&doc, "post", "/v1/login", &login);
    app.note_session_key(APP, "alice");
    let session = login.ok()["session"].as_str().unwrap().to_owned();
    let phone = app
        .phone_by_code(&session, &app.phone_code("alice", PHONE))
        .await;
    assert_eq!(phone.ok()["registered"], false);
    assert_conforms(&doc, "post", "/v1/phone", &phone);
    let ticket = phone.body["registration_ticket"].as_str().unwrap();
    let register = app.register(ticket, Some("Alice")).await;
    assert_eq!(register.status, 201);
    assert_conforms(&doc, "post", "/v1/register", &register);
    let refresh = app
        .refresh(register.body["tokens"]["refresh_token"].as_str().unwrap())
        .await;
    assert_conforms(&doc, "post", "/v1/token/refresh", &refresh);
    let access = refresh.ok()["tokens"]["access_token"].as_str().unwrap();
    let me = app.me(access).await;
    assert_eq!(me.status, 200);
    assert_conforms(&doc, "get", "/v1/me", &me);

    // The registered user again: silent login, and phone (registered).
    let login = app.login(&app.login_code("alice")).await;
    assert_eq!(login.ok()["registered"], true);
    assert_conforms(&doc, "post", "/v1/login", &login);
    app.note_session_key(APP, "alice");
    let session = login.body["session"].as_str().unwrap();
    let phone = app
        .phone_by_code(session, &app.phone_code("alice", PHONE))
        .await;
    assert_eq!(phone.ok()["registered"], true);
    assert_conforms(&doc, "post", "/v1/phone", &phone);

    let logout = app
        .request(
            reqwest::Method::POST,
            "/v1/logout",
            Some(&json!({ "all_devices": true })),
            Some(access),
        )
        .await;
    assert_eq!(logout.status, 204);
    assert_conforms(&doc, "post", "/v1/logout", &logout);

    // Errors, with and without `wechat_errcode`.
    let bad_code = app.login("not-a-code-wechat-knows").await;
    bad_code.assert_error(400, "login_code_invalid");
    assert_conforms(&doc, "post", "/v1/login", &bad_code);
    let anonymous = app.get("/v1/me", None).await;
    anonymous.assert_error(401, "unauthenticated");
    assert_conforms(&doc, "get", "/v1/me", &anonymous);
    let revoked = app.me(access).await;
    assert_conforms(&doc, "get", "/v1/me", &revoked);
    let not_json = app
        .send(
            app.http
                .post(format!("{}/v1/token/refresh", app.addr))
                .body("{"),
        )
        .await;
    not_json.assert_error(400, "invalid_request");
    assert_conforms(&doc, "post", "/v1/token/refresh", &not_json);

    // Discovery and ops.
    for path in [
        "/.well-known/jwks.json",
        "/.well-known/openid-configuration",
        "/healthz",
        "/readyz",
    ] {
        let res = app.get(path, None).await;
        assert_eq!(res.status, 200, "{path}");
        assert_conforms(&doc, "get", path, &res);
    }
}
