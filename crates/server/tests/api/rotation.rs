//! Key rotation under load, seen by a verifier that caches the JWKS for its `max-age` and
//! never refetches early (the strictest kind): not one token is refused. For each algorithm.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{DecodingKey, Validation};
use serde_json::Value;
use wxlogin_core::clock::Clock as _;
use wxlogin_core::jwt::{Algorithm, KeyRing};

use crate::helpers::{Options, PHONE, TestApp};

/// A resource server as Spring's or jwks-rsa's cache would be, minus the refetch on an
/// unknown kid: the JWKS is fetched, kept `max-age` seconds (by the server's clock), and
/// only then fetched again.
struct CachingVerifier {
    jwks: Value,
    fetched_at: i64,
    max_age: i64,
}

impl CachingVerifier {
    async fn new(app: &TestApp) -> Self {
        let mut v = Self {
            jwks: Value::Null,
            fetched_at: 0,
            max_age: 0,
        };
        v.fetch(app).await;
        v
    }

    async fn fetch(&mut self, app: &TestApp) {
        let res = app.get("/.well-known/jwks.json", None).await;
        let cache = res.headers["cache-control"].to_str().unwrap().to_owned();
        self.max_age = cache
            .split("max-age=")
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a max-age");
        self.jwks = res.ok().clone();
        self.fetched_at = app.clock.now().unix_timestamp();
    }

    /// The kid that verified `token`, or why it was refused.
    async fn verify(
        &mut self,
        app: &TestApp,
        token: &str,
        alg: Algorithm,
    ) -> Result<String, String> {
        let now = app.clock.now().unix_timestamp();
        if now >= self.fetched_at + self.max_age {
            self.fetch(app).await;
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
        let kid = header.kid.ok_or("no kid")?;
        let jwk = self.jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid.as_str())
            .ok_or_else(|| format!("kid {kid} not in the cached JWKS"))?;
        assert_eq!(jwk["alg"], alg.as_str());
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&["wxlogin"]);
        validation.set_issuer(&["http://127.0.0.1:9012"]);
        // `exp` against the test clock below (jsonwebtoken reads the system clock).
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<Value>(
            token,
            &DecodingKey::from_jwk(&jwk).unwrap(),
            &validation,
        )
        .map_err(|e| e.to_string())?
        .claims;
        if claims["exp"].as_i64().unwrap() <= now {
            return Err("expired".into());
        }
        Ok(kid)
    }
}

fn exp_of(token: &str) -> i64 {
    use base64::Engine as _;
    let body = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .unwrap(),
    )
    .unwrap();
    claims["exp"].as_i64().unwrap()
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_rotation_under_load_is_never_refused_by_a_verifier_that_caches_the_jwks() {
    for alg in Algorithm::ALL {
        let app = TestApp::spawn_with(Options {
            tweak: Some(Arc::new(move |raw| {
                raw.tokens.algorithm = alg.as_str().into();
            })),
            ..Options::default()
        })
        .await;
        let policy = wxlogin_server::startup::key_policy(&app.settings);
        let store = wxlogin_server::startup::open_store(&app.settings)
            .await
            .unwrap();
        let alice = app.register_user("alice", PHONE).await;
        let mut refresh = alice.refresh_token.clone();
        let mut verifier = CachingVerifier::new(&app).await;
        let first_kid = kids(&verifier.jwks)[0].clone();
        assert_eq!(verifier.max_age, 300);

        let step = 20;
        let mut signed_by = Vec::new();
        let mut alive: Vec<String> = vec![alice.access_token.clone()];
        let mut new_kid = None;
        for i in 1..=100u64 {
            app.advance(Duration::from_secs(step));
            if i * step % 60 == 0 {
                // A reload tick of the instance.
                wxlogin_server::startup::reload_keys(&store, &app.auth, &policy, app.clock.now())
                    .await
                    .unwrap();
            }
            if i == 5 {
                let rotation = KeyRing::rotate(
                    store.as_ref(),
                    &app.master_key.sealer(),
                    alg,
                    &policy,
                    app.clock.now(),
                )
                .await
                .unwrap();
                assert_eq!(
                    rotation.signs_from,
                    app.clock.now() + Duration::from_secs(360),
                    "published for the JWKS max-age plus a reload interval first"
                );
                new_kid = Some(rotation.kid);
            }
            let tokens = app.refresh(&refresh).await.ok()["tokens"].clone();
            refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
            alive.push(tokens["access_token"].as_str().unwrap().to_owned());
            // Every token issued in the last 15 minutes is still good, whoever signed it.
            let now = app.clock.now().unix_timestamp();
            alive.retain(|t| exp_of(t) > now);
            // The oldest token still alive and the newest.
            for token in [alive[0].clone(), alive[alive.len() - 1].clone()] {
                let kid = verifier.verify(&app, &token, alg).await;
                assert!(kid.is_ok(), "{alg}, step {i}: {kid:?}");
            }
            let kid = jsonwebtoken::decode_header(alive.last().unwrap())
                .unwrap()
                .kid
                .unwrap();
            signed_by.push(kid);
        }
        let new_kid = new_kid.unwrap();
        let distinct: HashSet<&String> = signed_by.iter().collect();
        assert_eq!(distinct.len(), 2, "{alg}: both keys signed");
        // The new key took over 360 s after the rotation (step 5 at 100 s: from step 23).
        assert_eq!(signed_by[21], first_kid, "{alg}");
        assert_eq!(signed_by[22], new_kid, "{alg}");
        // 2000 s in: the old key has left the JWKS (its last token expired at ~1360 s).
        let jwks = app.get("/.well-known/jwks.json", None).await.ok().clone();
        assert_eq!(kids(&jwks), std::slice::from_ref(&new_kid), "{alg}");
    }
}
