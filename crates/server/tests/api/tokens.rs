//! Our tokens: JWKS verification, refresh rotation and reuse, logout, expiry.

use std::time::Duration;

use futures::future::join_all;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

use crate::helpers::{APP, PHONE, TestApp};

#[tokio::test]
async fn access_tokens_verify_with_a_standard_library_against_the_published_jwks() {
    let app = TestApp::spawn().await;
    let alice = app.register_user("alice", PHONE).await;

    let discovery = app.get("/.well-known/openid-configuration", None).await;
    let issuer = discovery.ok()["issuer"].as_str().unwrap().to_owned();
    assert_eq!(issuer, "http://127.0.0.1:9012");
    assert_eq!(
        discovery.body["jwks_uri"],
        format!("{issuer}/.well-known/jwks.json")
    );

    let jwks = app.get("/.well-known/jwks.json", None).await.ok().clone();
    let header = jsonwebtoken::decode_header(&alice.access_token).unwrap();
    assert_eq!(header.alg, Algorithm::ES256, "a new deployment signs ES256");
    let kid = header.kid.unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("kid in the JWKS");
    assert_eq!(
        (
            jwk["kty"].as_str(),
            jwk["crv"].as_str(),
            jwk["alg"].as_str()
        ),
        (Some("EC"), Some("P-256"), Some("ES256"))
    );
    assert_eq!(jwk["use"], "sig");
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let key = DecodingKey::from_jwk(&jwk).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[&issuer]);
    validation.set_audience(&["wxlogin"]);
    let claims = jsonwebtoken::decode::<Value>(&alice.access_token, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], alice.user_id.as_str());
    assert_eq!(claims["appid"], APP);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    for claim in ["jti", "sid"] {
        assert!(
            claims[claim].as_str().is_some_and(|v| !v.is_empty()),
            "{claim}"
        );
    }
    let text = claims.to_string();
    assert!(
        !text.contains("13800138000") && !text.contains("openid"),
        "no personal data in tokens: {text}"
    );
}

#[tokio::test]
async fn a_refresh_rotates_the_refresh_token_and_the_new_pair_works() {
    let app = TestApp::spawn().await;
    let alice = app.register_user("alice", PHONE).await;
    let res = app.refresh(&alice.refresh_token).await;
    let tokens = &res.ok()["tokens"];
    let new_refresh = tokens["refresh_token"].as_str().unwrap();
    assert_ne!(new_refresh, alice.refresh_token);
    assert_eq!(
        app.me(tokens["access_token"].as_str().unwrap()).await.ok()["user"]["user_id"],
        alice.user_id.as_str()
    );
    assert!(app.refresh(new_refresh).await.ok()["tokens"]["refresh_token"].is_string());
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_its_whole_family() {
    let app = TestApp::spawn().await;
    let alice = app.register_user("alice", PHONE).await;
    let rotated = app.refresh(&alice.refresh_token).await.ok()["tokens"].clone();

    app.refresh(&alice.refresh_token)
        .await
        .assert_error(401, "refresh_token_reused");
    // The newest refresh token of the family is dead now, and so are its access tokens.
    app.refresh(rotated["refresh_token"].as_str().unwrap())
        .await
        .assert_error(401, "refresh_token_invalid");
    let me = app.me(rotated["access_token"].as_str().unwrap()).await;
    me.assert_error(401, "unauthenticated");
    assert_eq!(me.headers["www-authenticate"], "Bearer");
    app.me(&alice.access_token)
        .await
        .assert_error(401, "unauthenticated");
}

#[tokio::test]
async fn of_fifty_concurrent_refreshes_with_one_token_exactly_one_succeeds() {
    let app = TestApp::spawn().await;
    let alice = app.register_user("alice", PHONE).await;
    let results = join_all((0..50).map(|_| app.refresh(&alice.refresh_token))).await;
    let ok = results.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        ok,
        1,
        "statuses: {:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in results.iter().filter(|r| r.status != 200) {
        assert_eq!(r.status, 401);
        assert!(
            ["refresh_token_reused", "refresh_token_invalid"].contains(&r.code()),
            "{}",
            r.body
        );
    }
}

#[tokio::test]
async fn logout_revokes_this_device_only_and_all_devices_revokes_every_family() {
    let app = TestApp::spawn().await;
    let alice = app.register_user("alice", PHONE).await;
    let second = app.login(&app.login_code("alice")).await.ok()["tokens"].clone();
    let second_access = second["access_token"].as_str().unwrap();

    let res = app
        .request(
            reqwest::Method::POST,
            "/v1/logout",
            None,
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(res.status, 204);
    app.me(&alice.access_token)
        .await
        .assert_error(401, "unauthenticated");
    app.refresh(&alice.refresh_token)
        .await
        .assert_error(401, "refresh_token_invalid");
    app.me(second_access).await.ok();

    let third = app.login(&app.login_code("alice")).await.ok()["tokens"].clone();
    let res = app
        .request(
            reqwest::Method::POST,
            "/v1/logout",
            Some(&json!({"all_devices": true})),
            Some(second_access),
        )
        .await;
    assert_eq!(res.status, 204);
    app.me(second_access)
        .await
        .assert_error(401, "unauthenticated");
    app.me(third["access_token"].as_str().unwrap())
        .await
        .assert_error(401, "unauthenticated");
    app.refresh(third["refresh_token"].as_str().unwrap())
        .await
        .assert_error(401, "refresh_token_invalid");
}

#[tokio::test]
async fn an_access_token_expires_after_fifteen_minutes_and_a_refresh_token_after_thirty_days() {
    let app = TestApp::spawn().await;
    let alice = app.register_user("alice", PHONE).await;
    // Used once while fresh: its expiry must also hold for a token already verified.
    app.me(&alice.access_token).await.ok();
    app.advance(Duration::from_secs(900));
    app.me(&alice.access_token)
        .await
        .assert_error(401, "unauthenticated");
    let refreshed = app.refresh(&alice.refresh_token).await.ok()["tokens"].clone();
    app.me(refreshed["access_token"].as_str().unwrap())
        .await
        .ok();
    app.advance(Duration::from_secs(30 * 24 * 3600 + 1));
    app.refresh(refreshed["refresh_token"].as_str().unwrap())
        .await
        .assert_error(401, "refresh_token_invalid");
}

#[tokio::test]
async fn forged_and_malformed_bearer_tokens_are_refused() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    let app = TestApp::spawn().await;
    let alice = app.register_user("alice", PHONE).await;
    let parts: Vec<&str> = alice.access_token.split('.').collect();
    let header: Value = serde_json::from_slice(&B64.decode(parts[0]).unwrap()).unwrap();
    let mut claims: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();

    let alg_none = format!(
        "{}.{}.",
        B64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    let jwks = app.get("/.well-known/jwks.json", None).await.ok().clone();
    let public = B64.decode(jwks["keys"][0]["x"].as_str().unwrap()).unwrap();
    let mut hs_header = jsonwebtoken::Header::new(Algorithm::HS256);
    hs_header.kid = header["kid"].as_str().map(str::to_owned);
    let hs256 = jsonwebtoken::encode(
        &hs_header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&public),
    )
    .unwrap();
    claims["sub"] = json!("someone-else");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(claims.to_string()),
        parts[2]
    );
    let unknown_kid = format!(
        "{}.{}.{}",
        B64.encode(r#"{"alg":"EdDSA","typ":"JWT","kid":"nope"}"#),
        parts[1],
        parts[2]
    );
    let truncated = &alice.access_token[..alice.access_token.len() - 10];

    for token in [
        alg_none.as_str(),
        &hs256,
        &tampered,
        &unknown_kid,
        truncated,
        "garbage",
        "a.b.c",
    ] {
        app.me(token).await.assert_error(401, "unauthenticated");
    }
    app.get("/v1/me", None)
        .await
        .assert_error(401, "unauthenticated");
    let basic = app
        .send(
            app.http
                .get(format!("{}/v1/me", app.addr))
                .basic_auth("u", Some("p")),
        )
        .await;
    basic.assert_error(401, "unauthenticated");
}

/// The claims of a JWT, read without verifying (the other tests verify).
pub(crate) fn claims_of(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn openid_and_unionid_claims_are_opt_in_per_app_and_survive_a_refresh() {
    let plain = TestApp::spawn().await;
    let account = plain.register_user("alice", PHONE).await;
    let claims = claims_of(&account.access_token);
    assert!(
        claims.get("openid").is_none() && claims.get("unionid").is_none(),
        "{claims}"
    );

    let app = TestApp::spawn_with(crate::helpers::Options {
        tweak: Some(std::sync::Arc::new(|raw| {
            raw.apps[0].claims = vec!["openid".into(), "unionid".into()];
        })),
        ..crate::helpers::Options::default()
    })
    .await;
    let account = app.register_user("alice", PHONE).await;
    let openid = app.sim.openid_of(APP, "alice");
    let claims = claims_of(&account.access_token);
    assert_eq!(claims["openid"], openid, "{claims}");
    assert_eq!(
        claims["unionid"].as_str(),
        app.sim.unionid_of(APP, "alice").as_deref(),
        "{claims}"
    );
    // A refresh reads the identity back from the store: the same claims.
    let refreshed = app.refresh(&account.refresh_token).await;
    let again = claims_of(refreshed.ok()["tokens"]["access_token"].as_str().unwrap());
    assert_eq!(
        (&again["openid"], &again["unionid"]),
        (&claims["openid"], &claims["unionid"])
    );
    // A silent login signs in with them too.
    let login = app.login(&app.login_code("alice")).await;
    let silent = claims_of(login.ok()["tokens"]["access_token"].as_str().unwrap());
    assert_eq!(silent["openid"], openid);
}
