//! The admin API on the admin listener: keys and scopes, search and paging, changes, disabled
//! users, deletion, sign-out, unbinding, stats, import, events and signing keys.
//!
//! Long file: the admin API is one surface with one key-and-scope setup; its tests read as
//! its contract, endpoint after endpoint, as docs/api.md lists them.

use reqwest::Method;
use serde_json::{Value, json};
use wxlogin_core::admin::Scope;

use crate::helpers::{APP, Account, Options, PHONE, TestApp};

fn ids(page: &Value) -> Vec<String> {
    page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn event_types(app: &TestApp, key: &str, user: &str) -> Vec<String> {
    let res = app
        .admin_get(&format!("/admin/v1/events?user_id={user}"), key)
        .await;
    res.ok()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn admin_keys_are_required_scoped_and_only_on_the_admin_listener() {
    let app = TestApp::spawn().await;
    app.register_user("alice", PHONE).await;
    let reader = app.admin_key("reader", &[Scope::UsersRead]).await;

    // Not on the public listener, with or without a key.
    let res = app.get("/admin/v1/users", Some(&reader)).await;
    res.assert_error(404, "not_found");

    // No key, a malformed one, an unknown one.
    let res = app.admin(Method::GET, "/admin/v1/users", None, None).await;
    res.assert_error(401, "admin_unauthenticated");
    for bad in [
        "nope",
        "wxa_",
        "wxa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        app.admin_get("/admin/v1/users", bad)
            .await
            .assert_error(401, "admin_unauthenticated");
    }
    assert!(
        app.metrics()
            .await
            .contains("wxlogin_admin_unauthenticated_total 4")
    );

    // Reads work; writes need users:write; keys:write to rotate.
    assert_eq!(
        app.admin_get("/admin/v1/users", &reader).await.ok()["users"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let user = ids(app.admin_get("/admin/v1/users", &reader).await.ok())[0].clone();
    app.admin(
        Method::PATCH,
        &format!("/admin/v1/users/{user}"),
        Some(&json!({"nickname": "x"})),
        Some(&reader),
    )
    .await
    .assert_error(403, "admin_forbidden");
    app.admin(Method::POST, "/admin/v1/keys/rotate", None, Some(&reader))
        .await
        .assert_error(403, "admin_forbidden");
    app.admin_get("/admin/v1/events", &reader)
        .await
        .assert_error(403, "admin_forbidden");

    // A revoked key fails at once.
    use wxlogin_core::admin::AdminKeyStore as _;
    assert!(
        app.store
            .revoke_admin_key("reader", time::OffsetDateTime::now_utc())
            .await
            .unwrap()
    );
    app.admin_get("/admin/v1/users", &reader)
        .await
        .assert_error(401, "admin_unauthenticated");
}

#[tokio::test]
async fn pii_shows_only_with_its_scope() {
    let app = TestApp::spawn().await;
    let alice = app.register_user("alice", PHONE).await;
    let reader = app.admin_key("reader", &[Scope::UsersRead]).await;
    let pii = app
        .admin_key("support", &[Scope::UsersRead, Scope::UsersPii])
        .await;
    let path = format!("/admin/v1/users/{}", alice.user_id);

    let plain = app.admin_get(&path, &reader).await;
    let user = &plain.ok()["user"];
    assert_eq!(user["phone_masked"], "+86 138****8000");
    assert!(user.get("phone").is_none(), "{user}");
    assert!(user["identities"][0].get("openid").is_none(), "{user}");
    assert_eq!(user["status"], "active");
    assert_eq!(user["live_sessions"], 1);
    assert_eq!(user["identities"][0]["appid"], APP);
    assert!(user["last_login_at"].is_string());

    let full = app.admin_get(&path, &pii).await;
    let user = &full.ok()["user"];
    assert_eq!(user["phone"], PHONE);
    let openid = user["identities"][0]["openid"].as_str().unwrap().to_owned();

    // Search by each key finds alice.
    for query in [
        format!("phone={}", urlencode(PHONE)),
        "phone=13800138000".to_owned(),
        format!("openid={openid}"),
        "q=ali".to_owned(),
    ] {
        let page = app
            .admin_get(&format!("/admin/v1/users?{query}"), &reader)
            .await;
        assert_eq!(ids(page.ok()), vec![alice.user_id.clone()], "{query}");
    }
    for query in [
        "phone=13900139000",
        "q=bob",
        "openid=nobody",
        "external_id=e1",
    ] {
        let page = app
            .admin_get(&format!("/admin/v1/users?{query}"), &reader)
            .await;
        assert!(ids(page.ok()).is_empty(), "{query}");
    }
    // `%` and `_` are literal in q.
    let page = app.admin_get("/admin/v1/users?q=%25", &reader).await;
    assert!(ids(page.ok()).is_empty());
    app.admin_get("/admin/v1/users?phone=12", &reader)
        .await
        .assert_error(400, "invalid_request");
    app.admin_get("/admin/v1/users?limit=0", &reader)
        .await
        .assert_error(400, "invalid_request");
    app.admin_get("/admin/v1/users?cursor=%21%21", &reader)
        .await
        .assert_error(400, "invalid_request");
    app.admin_get("/admin/v1/users/not-a-user", &reader)
        .await
        .assert_error(404, "user_not_found");
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B")
}

#[tokio::test]
async fn paging_neither_repeats_nor_skips_while_users_are_added() {
    let app = TestApp::spawn().await;
    let key = app.root_key().await;
    let mut existing = Vec::new();
    for i in 0..7 {
        existing.push(
            app.register_user(&format!("u{i}"), &format!("+86138001380{i:02}"))
                .await
                .user_id,
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for page_no in 0.. {
        let path = match &cursor {
            Some(c) => format!("/admin/v1/users?limit=3&cursor={c}"),
            None => "/admin/v1/users?limit=3".to_owned(),
        };
        let page = app.admin_get(&path, &key).await;
        let body = page.ok();
        seen.extend(ids(body));
        // A user registers between pages: newest first, so they land before the cursor.
        app.register_user(
            &format!("late{page_no}"),
            &format!("+86139001390{page_no:02}"),
        )
        .await;
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), seen.len(), "a user was repeated: {seen:?}");
    existing.reverse();
    assert_eq!(seen, existing, "newest first, every existing user once");
}

#[tokio::test]
async fn updates_validate_and_external_ids_are_unique() {
    let app = TestApp::spawn().await;
    let key = app.root_key().await;
    let alice = app.register_user("alice", PHONE).await;
    let bob = app.register_user("bob", "+8613900139000").await;
    let patch = |user: &str, body: Value| {
        let path = format!("/admin/v1/users/{user}");
        let key = key.clone();
        let app = &app;
        async move {
            app.admin(Method::PATCH, &path, Some(&body), Some(&key))
                .await
        }
    };

    let res = patch(
        &alice.user_id,
        json!({"nickname": "Alicia", "external_id": "crm-1"}),
    )
    .await;
    assert_eq!(res.ok()["user"]["nickname"], "Alicia");
    assert_eq!(res.body["user"]["external_id"], "crm-1");
    patch(&bob.user_id, json!({"external_id": "crm-1"}))
        .await
        .assert_error(409, "external_id_taken");
    patch(&bob.user_id, json!({"nickname": ""}))
        .await
        .assert_error(400, "invalid_request");
    patch(&bob.user_id, json!({"avatar_url": "javascript:alert(1)"}))
        .await
        .assert_error(400, "invalid_request");
    patch(&bob.user_id, json!({"phone": "+8613800138000"}))
        .await
        .assert_error(400, "invalid_request");
    patch(&bob.user_id, json!({"disabled": "yes"}))
        .await
        .assert_error(400, "invalid_request");
    patch(
        "0190a0a0-0000-7000-8000-000000000000",
        json!({"nickname": "x"}),
    )
    .await
    .assert_error(404, "user_not_found");
    // null clears; an absent field stays.
    let res = patch(&alice.user_id, json!({"nickname": null})).await;
    assert_eq!(res.ok()["user"]["nickname"], Value::Null);
    assert_eq!(res.body["user"]["external_id"], "crm-1");
    let page = app
        .admin_get("/admin/v1/users?external_id=crm-1", &key)
        .await;
    assert_eq!(ids(page.ok()), vec![alice.user_id.clone()]);
    assert_eq!(
        event_types(&app, &key, &alice.user_id).await,
        [
            "user.registered",
            "identity.bound",
            "user.updated",
            "user.updated"
        ]
    );
    // An unchanged PATCH changes nothing and writes no event.
    patch(&alice.user_id, json!({"external_id": "crm-1"}))
        .await
        .ok();
    assert_eq!(event_types(&app, &key, &alice.user_id).await.len(), 4);
}

#[tokio::test]
async fn a_disabled_user_is_refused_everywhere_until_enabled() {
    let app = TestApp::spawn().await;
    let key = app.root_key().await;
    let alice = app.register_user("alice", PHONE).await;
    let path = format!("/admin/v1/users/{}", alice.user_id);
    let res = app
        .admin(
            Method::PATCH,
            &path,
            Some(&json!({"disabled": true})),
            Some(&key),
        )
        .await;
    assert_eq!(res.ok()["user"]["status"], "disabled");
    assert_eq!(res.body["user"]["live_sessions"], 0);

    // Refresh, bearer calls (even with a token the disable revoked), login, phone sign-in.
    app.refresh(&alice.refresh_token)
        .await
        .assert_error(403, "user_disabled");
    app.me(&alice.access_token)
        .await
        .assert_error(403, "user_disabled");
    app.request(Method::POST, "/v1/logout", None, Some(&alice.access_token))
        .await
        .assert_error(403, "user_disabled");
    app.login(&app.login_code("alice"))
        .await
        .assert_error(403, "user_disabled");
    let session = app.session_for("mallory-phone").await;
    app.phone_by_code(&session, &app.phone_code("mallory-phone", PHONE))
        .await
        .assert_error(403, "user_disabled");

    // Enabled again: a new login signs in; the revoked refresh token stays revoked.
    let res = app
        .admin(
            Method::PATCH,
            &path,
            Some(&json!({"disabled": false})),
            Some(&key),
        )
        .await;
    assert_eq!(res.ok()["user"]["status"], "active");
    let res = app.login(&app.login_code("alice")).await;
    assert_eq!(res.ok()["registered"], true);
    app.refresh(&alice.refresh_token)
        .await
        .assert_error(401, "refresh_token_invalid");
    let types = event_types(&app, &key, &alice.user_id).await;
    assert!(types.contains(&"user.disabled".to_owned()), "{types:?}");
    assert!(types.contains(&"user.enabled".to_owned()), "{types:?}");
}

#[tokio::test]
async fn deletion_leaves_a_tombstone_and_the_phone_free() {
    let app = TestApp::spawn().await;
    let key = app.root_key().await;
    let alice = app.register_user("alice", PHONE).await;
    let path = format!("/admin/v1/users/{}", alice.user_id);
    let res = app.admin(Method::DELETE, &path, None, Some(&key)).await;
    assert_eq!(res.status, 204, "{}", res.body);
    app.admin_get(&path, &key)
        .await
        .assert_error(404, "user_not_found");
    app.admin(Method::DELETE, &path, None, Some(&key))
        .await
        .assert_error(404, "user_not_found");
    app.me(&alice.access_token)
        .await
        .assert_error(401, "unauthenticated");
    app.refresh(&alice.refresh_token)
        .await
        .assert_error(401, "refresh_token_invalid");

    // The events keep the tombstone's id but no openid.
    let events = app
        .admin_get(&format!("/admin/v1/events?user_id={}", alice.user_id), &key)
        .await;
    let events = events.ok()["events"].as_array().unwrap().clone();
    assert_eq!(events.last().unwrap()["type"], "user.deleted");
    assert!(
        events.iter().all(|e| e["data"].get("openid").is_none()),
        "{events:?}"
    );

    // The same WeChat user starts unregistered, and the phone registers again.
    let res = app.login(&app.login_code("alice")).await;
    assert_eq!(res.ok()["registered"], false);
    let again = app.register_user("alice", PHONE).await;
    assert_ne!(again.user_id, alice.user_id);
}

#[tokio::test]
async fn revoke_signs_out_everywhere_and_unbind_makes_the_next_login_new() {
    let app = TestApp::spawn().await;
    let key = app.root_key().await;
    let alice = app.register_user("alice", PHONE).await;
    let second = Account::from_tokens(app.login(&app.login_code("alice")).await.ok());
    let res = app
        .admin(
            Method::POST,
            &format!("/admin/v1/users/{}/revoke", alice.user_id),
            None,
            Some(&key),
        )
        .await;
    assert_eq!(res.status, 204);
    for account in [&alice, &second] {
        app.me(&account.access_token)
            .await
            .assert_error(401, "unauthenticated");
        app.refresh(&account.refresh_token)
            .await
            .assert_error(401, "refresh_token_invalid");
    }
    // Signing in again works.
    assert_eq!(
        app.login(&app.login_code("alice")).await.ok()["registered"],
        true
    );

    let unbind = format!("/admin/v1/users/{}/identities/{APP}", alice.user_id);
    assert_eq!(
        app.admin(Method::DELETE, &unbind, None, Some(&key))
            .await
            .status,
        204
    );
    assert_eq!(
        app.login(&app.login_code("alice")).await.ok()["registered"],
        false
    );
    // Idempotent.
    assert_eq!(
        app.admin(Method::DELETE, &unbind, None, Some(&key))
            .await
            .status,
        204
    );
    let types = event_types(&app, &key, &alice.user_id).await;
    assert!(types.contains(&"session.revoked".to_owned()), "{types:?}");
    assert!(types.contains(&"identity.unbound".to_owned()), "{types:?}");
    let detail = app
        .admin_get(&format!("/admin/v1/users/{}", alice.user_id), &key)
        .await;
    assert_eq!(detail.ok()["user"]["identities"], json!([]));
}

#[tokio::test]
async fn stats_count_users_sign_ins_and_disabled() {
    let app = TestApp::spawn().await;
    let key = app.root_key().await;
    let alice = app.register_user("alice", PHONE).await;
    app.register_user("bob", "+8613900139000").await;
    app.login(&app.login_code("alice")).await.ok();
    app.admin(
        Method::PATCH,
        &format!("/admin/v1/users/{}", alice.user_id),
        Some(&json!({"disabled": true})),
        Some(&key),
    )
    .await
    .ok();
    let stats = app.admin_get("/admin/v1/stats", &key).await;
    assert_eq!(
        stats.ok(),
        &json!({"users": 2, "registrations_24h": 2, "logins_24h": 3, "disabled": 1})
    );
}

#[tokio::test]
async fn imports_are_idempotent_and_imported_users_sign_in_by_phone() {
    let app = TestApp::spawn_with(Options {
        tweak: Some(std::sync::Arc::new(|raw| {
            raw.apps[0].claims = vec!["external_id".into()];
        })),
        ..Options::default()
    })
    .await;
    let key = app.root_key().await;
    let batch = json!({"users": [
        {"phone": "+8613800138000", "nickname": "Alice", "external_id": "crm-1"},
        {"phone": "13900139000", "external_id": "crm-2",
         "identities": [{"appid": APP, "openid": "o-imported-bob"}]},
        {"phone": "12"},
        {"phone": "+8613700137000", "identities": [{"appid": "wx-unknown", "openid": "o1"}]},
        {"phone": "+8613600136000", "avatar_url": "http://insecure"},
    ]});
    let res = app
        .admin(
            Method::POST,
            "/admin/v1/users/import",
            Some(&batch),
            Some(&key),
        )
        .await;
    let body = res.ok();
    assert_eq!(body["created"], 2);
    assert_eq!(body["existing"], 0);
    let rejected: Vec<u64> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["index"].as_u64().unwrap())
        .collect();
    assert_eq!(rejected, vec![2, 3, 4], "{body}");

    // Again: nothing new.
    let res = app
        .admin(
            Method::POST,
            "/admin/v1/users/import",
            Some(&batch),
            Some(&key),
        )
        .await;
    assert_eq!(
        (res.ok()["created"].as_u64(), res.body["existing"].as_u64()),
        (Some(0), Some(2))
    );

    // Alice verifies her phone: signed in as the imported user, external_id in the token.
    let session = app.session_for("alice").await;
    let res = app
        .phone_by_code(&session, &app.phone_code("alice", PHONE))
        .await;
    assert_eq!(res.ok()["registered"], true, "{}", res.body);
    let token = res.body["tokens"]["access_token"].as_str().unwrap();
    let claims = crate::tokens::claims_of(token);
    assert_eq!(claims["external_id"], "crm-1");

    // Whole-batch problems.
    let rows: Vec<Value> = (0..1001)
        .map(|i| json!({"phone": format!("+861380000{i:04}")}))
        .collect();
    app.admin(
        Method::POST,
        "/admin/v1/users/import",
        Some(&json!({ "users": rows })),
        Some(&key),
    )
    .await
    .assert_error(422, "import_invalid");
    app.admin(
        Method::POST,
        "/admin/v1/users/import",
        Some(&json!([{"phone": "+8613800138000"}])),
        Some(&key),
    )
    .await
    .assert_error(422, "import_invalid");
    let page = app
        .admin_get("/admin/v1/events?type=user.imported", &key)
        .await;
    let events = page.ok()["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["data"]["source"], "import");
    assert_eq!(events[0]["data"]["external_id"], "crm-1");
}

#[tokio::test]
async fn events_page_with_after_and_refuse_unknown_cursors() {
    let app = TestApp::spawn().await;
    let key = app.root_key().await;
    for i in 0..3 {
        app.register_user(&format!("u{i}"), &format!("+86138001380{i:02}"))
            .await;
    }
    let all = app.admin_get("/admin/v1/events", &key).await;
    let all = all.ok()["events"].as_array().unwrap().clone();
    assert_eq!(
        all.len(),
        6,
        "a registration writes user.registered and identity.bound"
    );
    let first = all[1]["id"].as_str().unwrap();
    let rest = app
        .admin_get(&format!("/admin/v1/events?after={first}&limit=2"), &key)
        .await;
    let rest = rest.ok()["events"].as_array().unwrap().clone();
    assert_eq!(rest, all[2..4].to_vec());
    let registered = app
        .admin_get("/admin/v1/events?type=user.registered", &key)
        .await;
    assert_eq!(registered.ok()["events"].as_array().unwrap().len(), 3);
    for bad in [
        "after=evt_00000000000000000000000000000000",
        "type=user.exploded",
        "limit=5000",
        "delivery=lost",
    ] {
        app.admin_get(&format!("/admin/v1/events?{bad}"), &key)
            .await
            .assert_error(400, "invalid_request");
    }
}

#[tokio::test]
async fn keys_are_listed_and_rotated_through_the_admin_api() {
    let app = TestApp::spawn().await;
    let key = app.admin_key("keys", &[Scope::KeysWrite]).await;
    let list = app.admin_get("/admin/v1/keys", &key).await;
    let keys = list.ok()["keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["state"], "current");
    assert_eq!(keys[0]["alg"], "ES256");
    let res = app
        .admin(Method::POST, "/admin/v1/keys/rotate", None, Some(&key))
        .await;
    assert_eq!(res.status, 202, "{}", res.body);
    assert_eq!(res.body["state"], "next");
    let kid = res.body["kid"].as_str().unwrap().to_owned();
    // Published at once in this instance's JWKS, not signing yet.
    let jwks = app.get("/.well-known/jwks.json", None).await;
    assert!(jwks.body.to_string().contains(&kid));
    let list = app.admin_get("/admin/v1/keys", &key).await;
    assert_eq!(list.ok()["keys"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn each_admin_key_has_its_own_rate_limit() {
    let app = TestApp::spawn_with(Options {
        tweak: Some(std::sync::Arc::new(|raw| {
            raw.admin.requests_per_second = 1;
            raw.admin.burst = 2;
        })),
        ..Options::default()
    })
    .await;
    let busy = app.admin_key("busy", &[Scope::UsersRead]).await;
    let other = app.admin_key("other", &[Scope::UsersRead]).await;
    for _ in 0..2 {
        app.admin_get("/admin/v1/stats", &busy).await.ok();
    }
    let res = app.admin_get("/admin/v1/stats", &busy).await;
    res.assert_error(429, "rate_limited");
    assert!(res.headers.contains_key("retry-after"));
    // Another key is not held back.
    app.admin_get("/admin/v1/stats", &other).await.ok();
}
