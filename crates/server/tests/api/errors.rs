//! Every error code of the contract that SQLite and the simulator can produce, with its status.

use std::time::Duration;

use serde_json::json;
use wxlogin_core::RegistrationPolicy;
use wxlogin_wechat_sim::{Api, Fault, encrypt_legacy};

use crate::helpers::{APP, APP2, Options, PHONE, TestApp};

#[tokio::test]
async fn malformed_bodies_are_invalid_requests() {
    let app = TestApp::spawn().await;
    let raw = |body: &'static str| app.http.post(format!("{}/v1/login", app.addr)).body(body);
    app.send(raw("not json"))
        .await
        .assert_error(400, "invalid_request");
    app.send(raw("")).await.assert_error(400, "invalid_request");
    app.send(raw(r#"{"code": 123}"#))
        .await
        .assert_error(400, "invalid_request");
    app.send(raw(r#"{"appid": "wx"}"#))
        .await
        .assert_error(400, "invalid_request");
    app.send(raw("[]"))
        .await
        .assert_error(400, "invalid_request");
    app.post("/v1/phone", json!({"session": "s"}))
        .await
        .assert_error(400, "invalid_request");
    app.post("/v1/phone", json!({"session": "s", "encrypted_data": "x"}))
        .await
        .assert_error(400, "invalid_request");
    app.post(
        "/v1/phone",
        json!({"session": "x".repeat(300), "code": "c"}),
    )
    .await
    .assert_error(400, "invalid_request");
    app.post("/v1/register", json!({"nickname": "x"}))
        .await
        .assert_error(400, "invalid_request");
    app.post("/v1/token/refresh", json!({"refresh_token": false}))
        .await
        .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn a_body_over_sixteen_kibibytes_is_refused_with_413() {
    let app = TestApp::spawn().await;
    let big = json!({"code": "c", "padding": "x".repeat(17 * 1024)});
    app.post("/v1/login", big)
        .await
        .assert_error(413, "payload_too_large");
    // Just under the limit is read (and fails on its merits).
    let fits = json!({"code": "", "appid": APP, "padding": "x".repeat(16 * 1024 - 60)});
    app.post("/v1/login", fits)
        .await
        .assert_error(400, "login_code_invalid");
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_404_and_405() {
    let app = TestApp::spawn().await;
    app.get("/v1/nothing-here", None)
        .await
        .assert_error(404, "not_found");
    app.get("/v1/login", None)
        .await
        .assert_error(405, "method_not_allowed");
    app.request(reqwest::Method::PUT, "/v1/me", None, None)
        .await
        .assert_error(405, "method_not_allowed");
}

#[tokio::test]
async fn login_codes_that_are_empty_too_long_or_unknown_are_invalid_and_empty_ones_never_go_upstream()
 {
    let app = TestApp::spawn().await;
    app.login("").await.assert_error(400, "login_code_invalid");
    app.login(&"c".repeat(129))
        .await
        .assert_error(400, "login_code_invalid");
    assert_eq!(app.upstream_calls("jscode2session"), 0);
    let res = app.login("never-issued-code").await;
    res.assert_error(400, "login_code_invalid");
    assert_eq!(res.body["error"]["wechat_errcode"], 40029);
    // Another app's code.
    let res = app.login(&app.login_code_for(APP2, "alice")).await;
    res.assert_error(400, "login_code_invalid");
}

#[tokio::test]
async fn a_code_exchanged_elsewhere_first_is_login_code_used() {
    let app = TestApp::spawn().await;
    let code = app.login_code("alice");
    // Someone else (another back end) exchanged it first.
    let url = format!(
        "{}/sns/jscode2session?appid={APP}&secret={}&js_code={code}&grant_type=authorization_code",
        app.sim_url,
        crate::helpers::APP_SECRET
    );
    let first: serde_json::Value = app
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(first["openid"].is_string());
    let res = app.login(&code).await;
    res.assert_error(409, "login_code_used");
    assert_eq!(res.body["error"]["wechat_errcode"], 40163);
}

#[tokio::test]
async fn wechat_errcodes_on_login_map_to_the_contract() {
    let app = TestApp::spawn().await;
    let cases = [
        (40226, 403, "login_blocked"),
        (45011, 429, "rate_limited"),
        (45009, 429, "rate_limited"),
        (-1, 503, "wechat_unavailable"),
        (40013, 502, "wechat_error"),
        (48001, 502, "wechat_error"),
    ];
    for (errcode, status, code) in cases {
        app.fault(Fault::errcode(Api::Jscode2session, errcode));
        let res = app.login(&app.login_code("alice")).await;
        res.assert_error(status, code);
        assert_eq!(res.body["error"]["wechat_errcode"], errcode);
        if status == 429 || status == 503 {
            assert!(
                res.headers.contains_key("retry-after"),
                "{code} sets Retry-After"
            );
        }
        if errcode == 45009 {
            let wait: u64 = res.headers["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(
                (1..=86_400).contains(&wait),
                "until Beijing midnight: {wait}"
            );
        }
    }
    let text = app.metrics().await;
    for errcode in ["45011", "45009"] {
        assert!(
            crate::dashboards::metric_value(
                &text,
                "wxlogin_wechat_rate_limited_total",
                &[("errcode", errcode)]
            ) >= 1.0,
            "{errcode} is counted"
        );
    }
}

#[tokio::test]
async fn an_unreachable_wechat_is_wechat_unavailable() {
    let app = TestApp::spawn().await;
    app.fault(Fault::transport(
        Api::Jscode2session,
        wxlogin_wechat_sim::Transport::Http500,
    ));
    app.login(&app.login_code("alice"))
        .await
        .assert_error(503, "wechat_unavailable");
    app.fault(Fault::transport(
        Api::Jscode2session,
        wxlogin_wechat_sim::Transport::TruncatedJson,
    ));
    app.login(&app.login_code("alice"))
        .await
        .assert_error(503, "wechat_unavailable");
}

#[tokio::test]
async fn sessions_that_are_unknown_expired_or_of_another_app_are_invalid() {
    let app = TestApp::spawn().await;
    app.phone_by_code("wxs_not-a-session", "c")
        .await
        .assert_error(401, "session_invalid");
    let session = app.session_for("alice").await;
    let res = app
        .post(
            "/v1/phone",
            json!({"session": session, "appid": APP2, "code": app.phone_code("alice", PHONE)}),
        )
        .await;
    res.assert_error(401, "session_invalid");
    app.advance(Duration::from_secs(30 * 24 * 3600 + 1));
    app.phone_by_code(&session, &app.phone_code("alice", PHONE))
        .await
        .assert_error(401, "session_invalid");
}

#[tokio::test]
async fn phone_codes_that_are_unknown_reused_or_login_codes_are_invalid() {
    let app = TestApp::spawn().await;
    let session = app.session_for("alice").await;
    let res = app.phone_by_code(&session, "never-issued").await;
    res.assert_error(400, "phone_code_invalid");
    assert_eq!(res.body["error"]["wechat_errcode"], 40029);
    app.phone_by_code(&session, &app.login_code("alice"))
        .await
        .assert_error(400, "phone_code_invalid");
    app.phone_by_code(&session, "")
        .await
        .assert_error(400, "phone_code_invalid");
}

#[tokio::test]
async fn wechat_errcodes_on_the_phone_api_map_to_the_contract() {
    let app = TestApp::spawn().await;
    let session = app.session_for("alice").await;
    for (errcode, status, code) in [
        (45011, 429, "rate_limited"),
        (45009, 429, "rate_limited"),
        (-1, 503, "wechat_unavailable"),
        (48001, 502, "wechat_error"),
    ] {
        app.fault(Fault::errcode(Api::GetUserPhoneNumber, errcode));
        app.phone_by_code(&session, &app.phone_code("alice", PHONE))
            .await
            .assert_error(status, code);
    }
}

#[tokio::test]
async fn a_refused_wechat_access_token_is_replaced_and_the_phone_call_retried_once() {
    let app = TestApp::spawn().await;
    let session = app.session_for("alice").await;
    assert_eq!(
        app.phone_by_code(&session, &app.phone_code("alice", PHONE))
            .await
            .ok()["registered"],
        false
    );
    let tokens_before = app.upstream_calls("stable_token");
    app.sim.invalidate_tokens(APP).unwrap();
    let res = app
        .phone_by_code(&session, &app.phone_code("alice", PHONE))
        .await;
    assert_eq!(res.ok()["registered"], false);
    assert_eq!(app.upstream_calls("stable_token"), tokens_before + 1);
    app.note_wechat_access_token().await;
}

#[tokio::test]
async fn broken_legacy_payloads_are_malformed() {
    use base64::Engine as _;
    let b64 = |n: usize| base64::engine::general_purpose::STANDARD.encode(vec![7u8; n]);
    let app = TestApp::spawn().await;
    let session = app.session_for("alice").await;
    let (data, iv) = app.encrypted_phone("alice", PHONE);
    let cases = [
        (data.clone(), "not base64!".to_owned()),
        // A '+' turned into a space by a careless URL decoder (always one: one is inserted).
        (format!("{} {}", &data[..4], &data[4..]), iv.clone()),
        (data.clone(), b64(0)),
        (data.clone(), b64(15)),
        (data.clone(), b64(17)),
        (data.clone(), b64(1000)),
        (b64(33), iv.clone()),
        (String::new(), iv.clone()),
    ];
    for case in cases {
        app.phone_by_data(&session, &case)
            .await
            .assert_error(422, "payload_malformed");
    }
}

#[tokio::test]
async fn data_for_another_app_is_appid_mismatch_and_old_data_is_watermark_expired() {
    let app = TestApp::spawn().await;
    let session = app.session_for("alice").await;
    let key = app.sim.current_session_key(APP, "alice").unwrap();
    let now = app.sim.clock().now_unix();
    let plaintext = format!(
        r#"{{"phoneNumber":"13800138000","purePhoneNumber":"13800138000","countryCode":"86","watermark":{{"timestamp":{now},"appid":"{APP2}"}}}}"#
    );
    let iv = "oKGio6SlpqeoqaqrrK2urw==".to_owned();
    let data = encrypt_legacy(&key, &iv, plaintext.as_bytes()).unwrap();
    app.phone_by_data(&session, &(data, iv))
        .await
        .assert_error(422, "appid_mismatch");

    let stale = app.encrypted_phone("alice", PHONE);
    app.advance_server_only(Duration::from_secs(601));
    app.phone_by_data(&session, &stale)
        .await
        .assert_error(422, "watermark_expired");
}

#[tokio::test]
async fn tickets_that_are_forged_reused_or_expired_are_invalid() {
    let app = TestApp::spawn().await;
    app.register("wxt_forged", None)
        .await
        .assert_error(401, "ticket_invalid");
    app.register("", None)
        .await
        .assert_error(401, "ticket_invalid");

    let ticket = app.ticket_for("alice", PHONE).await;
    assert_eq!(app.register(&ticket, None).await.status, 201);
    app.register(&ticket, None)
        .await
        .assert_error(401, "ticket_invalid");

    let ticket = app.ticket_for("bob", "+8613900139000").await;
    // Tampered: one character changed, or cut short.
    let mut tampered = ticket.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    app.register(&tampered, None)
        .await
        .assert_error(401, "ticket_invalid");
    app.register(&ticket[..ticket.len() - 1], None)
        .await
        .assert_error(401, "ticket_invalid");
    app.advance(Duration::from_secs(601));
    app.register(&ticket, None)
        .await
        .assert_error(401, "ticket_invalid");
}

#[tokio::test]
async fn a_ticket_registers_the_identity_it_was_issued_to_and_no_other_app() {
    let app = TestApp::spawn().await;
    let code = app.login_code_for(APP2, "carol");
    let session = app
        .post("/v1/login", json!({"code": code, "appid": APP2}))
        .await
        .ok()["session"]
        .as_str()
        .unwrap()
        .to_owned();
    // The session is APP2's: naming APP for it is refused.
    app.post(
        "/v1/phone",
        json!({"session": session, "appid": APP, "code": "whatever"}),
    )
    .await
    .assert_error(401, "session_invalid");
    let code = app.sim.mint_phone_code(APP2, "carol", PHONE).unwrap();
    let ticket = app.phone_by_code(&session, &code).await.ok()["registration_ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    let reg = app.register(&ticket, None).await;
    assert_eq!(reg.status, 201, "{}", reg.body);
    let me = app
        .me(reg.body["tokens"]["access_token"].as_str().unwrap())
        .await;
    let apps: Vec<_> = me.ok()["user"]["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["appid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(apps, [APP2], "bound to the ticket's app only");
}

#[tokio::test]
async fn out_of_bounds_profiles_are_invalid_requests_and_leave_the_ticket_usable() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket_for("alice", PHONE).await;
    app.register(&ticket, Some(&"x".repeat(65)))
        .await
        .assert_error(400, "invalid_request");
    let res = app
        .post(
            "/v1/register",
            json!({"registration_ticket": ticket, "avatar_url": "http://insecure.example/a.png"}),
        )
        .await;
    res.assert_error(400, "invalid_request");
    assert_eq!(app.register(&ticket, Some("Alice")).await.status, 201);
}

#[tokio::test]
async fn a_phone_registered_through_another_ticket_meanwhile_is_already_registered() {
    let app = TestApp::spawn().await;
    let mut tickets = Vec::new();
    for user in ["alice", "alice-other-wechat"] {
        tickets.push(app.ticket_for(user, PHONE).await);
    }
    assert_eq!(app.register(&tickets[0], None).await.status, 201);
    app.register(&tickets[1], None)
        .await
        .assert_error(409, "already_registered");
}

#[tokio::test]
async fn with_registration_closed_no_ticket_is_issued_but_existing_users_sign_in() {
    let open = TestApp::spawn().await;
    let alice = open.register_user("alice", PHONE).await;
    let mut open = open;
    open.stop().await;
    let closed = TestApp::spawn_with(Options {
        registration: RegistrationPolicy::Closed,
        data_dir: Some(open.data_dir.clone()),
        master_key: Some(open.master_key.clone()),
        sim: Some(open.sim.clone()),
        ..Options::default()
    })
    .await;
    let session = closed.session_for("bob").await;
    closed
        .phone_by_code(&session, &closed.phone_code("bob", "+8613900139000"))
        .await
        .assert_error(403, "registration_closed");
    let session = closed.session_for("alice").await;
    let res = closed
        .phone_by_code(&session, &closed.phone_code("alice", PHONE))
        .await;
    assert_eq!(res.ok()["user"]["user_id"], alice.user_id.as_str());
}

#[tokio::test]
async fn unknown_and_garbage_refresh_tokens_are_invalid() {
    let app = TestApp::spawn().await;
    app.refresh("wxr_unknown")
        .await
        .assert_error(401, "refresh_token_invalid");
    app.refresh("")
        .await
        .assert_error(401, "refresh_token_invalid");
}

#[tokio::test]
async fn a_request_that_hangs_past_the_backstop_gets_503_unavailable_in_time() {
    let app = TestApp::spawn_with(Options {
        request_timeout_secs: Some(1),
        ..Options::default()
    })
    .await;
    // WeChat answers after 3 s: later than our 1 s backstop, sooner than the client's 5 s.
    app.fault(Fault::delay_only(
        Api::Jscode2session,
        Duration::from_secs(3),
    ));
    let started = std::time::Instant::now();
    app.login(&app.login_code("alice"))
        .await
        .assert_error(503, "unavailable");
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_json_array_is_not_a_request_body() {
    let app = TestApp::spawn().await;
    let code = app.login_code("alice");
    app.post("/v1/login", serde_json::json!([code, crate::helpers::APP]))
        .await
        .assert_error(400, "invalid_request");
    app.post("/v1/token/refresh", serde_json::json!(["wxr_x"]))
        .await
        .assert_error(400, "invalid_request");
    // The code was never sent to WeChat: it still works.
    app.login(&code).await.ok();
}

#[tokio::test]
async fn messages_follow_accept_language_and_codes_never_change() {
    let app = TestApp::spawn().await;
    let send = |lang: Option<&'static str>| {
        let mut req = app
            .http
            .post(format!("{}/v1/login", app.addr))
            .json(&serde_json::json!({"code": "", "appid": crate::helpers::APP}));
        if let Some(lang) = lang {
            req = req.header("Accept-Language", lang);
        }
        app.send(req)
    };
    let english = send(None).await;
    english.assert_error(400, "login_code_invalid");
    assert_eq!(english.headers["content-language"], "en");
    let chinese = send(Some("zh-CN,zh;q=0.9,en;q=0.8")).await;
    chinese.assert_error(400, "login_code_invalid");
    assert_eq!(chinese.headers["content-language"], "zh-CN");
    let message = chinese.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("wx.login") && message.contains("登录"),
        "{message}"
    );
    let traditional = send(Some("zh-TW")).await;
    assert_eq!(traditional.headers["content-language"], "en");
    // A detail (the field) survives translation.
    let res = app
        .send(
            app.http
                .post(format!("{}/v1/login", app.addr))
                .header("Accept-Language", "zh")
                .body("{}"),
        )
        .await;
    res.assert_error(400, "invalid_request");
    let message = res.body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("请求无效") && message.contains("`code`"),
        "{message}"
    );
}
