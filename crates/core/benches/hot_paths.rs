//! Micro-benchmarks of the per-request crypto on wxlogin's hot paths.
//!
//! `cargo bench -p wxlogin-core --bench hot_paths` (about a minute; short warm-up and
//! measurement times are set below so that it stays quick on a busy machine). The figures
//! are quoted in `docs/benchmarks.md`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use time::OffsetDateTime;
use wxlogin_core::crypto::{Handle, HandleHash, MasterKey};
use wxlogin_core::jwt::{Algorithm, Claims, KeyPolicy, KeyRing, new_key_record};
use wxlogin_core::wxcrypt;

/// A positive phone vector from `testdata/wx-vectors.json` (the shape `/v1/phone` decrypts).
struct Vector {
    appid: String,
    session_key: String,
    iv: String,
    encrypted_data: String,
}

fn phone_vector() -> Vector {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/wx-vectors.json");
    let all: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let v = all
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["kind"] == "positive" && v["name"].as_str().unwrap().contains("phone"))
        .unwrap();
    let field = |k: &str| v[k].as_str().unwrap().to_owned();
    Vector {
        appid: field("appid"),
        session_key: field("session_key"),
        iv: field("iv"),
        encrypted_data: field("encrypted_data"),
    }
}

fn claims(now: OffsetDateTime) -> Claims {
    Claims {
        iss: "http://127.0.0.1:9012".into(),
        aud: "wxlogin".into(),
        sub: "01890f3c6b7e7c2a9d1e4f5a6b7c8d9e".into(),
        iat: now.unix_timestamp(),
        exp: now.unix_timestamp() + 900,
        jti: uuid::Uuid::new_v4().simple().to_string(),
        sid: uuid::Uuid::new_v4().simple().to_string(),
        appid: "wx0000000000000001".into(),
        openid: None,
        unionid: None,
        external_id: None,
    }
}

fn legacy_decrypt(c: &mut Criterion) {
    let v = phone_vector();
    c.bench_function("wxcrypt::decrypt (phone payload, 1 key)", |b| {
        b.iter(|| {
            wxcrypt::decrypt(
                black_box(&v.session_key),
                black_box(&v.encrypted_data),
                black_box(&v.iv),
                &v.appid,
            )
            .unwrap()
        })
    });
}

fn jwt(c: &mut Criterion) {
    let sealer = MasterKey::generate().sealer();
    let now = OffsetDateTime::now_utc();
    let policy = KeyPolicy {
        issuer: "http://127.0.0.1:9012".into(),
        audience: "wxlogin".into(),
        publish_delay: Duration::from_secs(360),
        retire_after: Duration::from_secs(1020),
    };
    let claims = claims(now);
    for alg in Algorithm::ALL {
        let record = new_key_record(&sealer, alg, 1, now).unwrap();
        let ring = KeyRing::from_records(vec![record], &sealer, &policy, now).unwrap();
        let token = ring.sign(&claims).unwrap();
        c.bench_function(&format!("KeyRing::sign ({alg} JWT)"), |b| {
            b.iter(|| ring.sign(black_box(&claims)).unwrap())
        });
        c.bench_function(&format!("KeyRing::verify_uncached ({alg} JWT)"), |b| {
            b.iter(|| ring.verify_uncached(black_box(&token), now).unwrap())
        });
        c.bench_function(
            &format!("KeyRing::verify ({alg}, a token already verified: cache hit)"),
            |b| b.iter(|| ring.verify(black_box(&token), now).unwrap()),
        );
    }
}

/// What the JWT work costs with keys parsed once (ed25519-dalek, already a dependency), on the
/// same token bytes: jsonwebtoken 9 re-derives the Ed25519 key pair from PKCS#8 on every
/// `encode`, and re-parses the public key on every `decode`. Since issue #8 `KeyRing` does this
/// itself (keys parsed once when the ring is built); this stays as the lower bound to compare
/// `KeyRing::sign`/`verify` against.
fn jwt_preparsed(c: &mut Criterion) {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ed25519_dalek::{Signature, Signer, SigningKey, Verifier};

    let signing = SigningKey::generate(&mut rand::rngs::OsRng);
    let verifying = signing.verifying_key();
    let now = OffsetDateTime::now_utc();
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"EdDSA","kid":"abcdefghijklmnop"}"#);
    let claims = claims(now);
    c.bench_function(
        "pre-parsed ed25519-dalek: sign JWT (header+claims+signature)",
        |b| {
            b.iter(|| {
                let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(black_box(&claims)).unwrap());
                let message = format!("{header}.{body}");
                let sig = signing.sign(message.as_bytes());
                format!("{message}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
            })
        },
    );
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let message = format!("{header}.{body}");
    let token = format!(
        "{message}.{}",
        URL_SAFE_NO_PAD.encode(signing.sign(message.as_bytes()).to_bytes())
    );
    c.bench_function(
        "pre-parsed ed25519-dalek: verify JWT + decode claims",
        |b| {
            b.iter(|| {
                let token = black_box(&token);
                let (message, sig) = token.rsplit_once('.').unwrap();
                let sig: [u8; 64] = URL_SAFE_NO_PAD.decode(sig).unwrap().try_into().unwrap();
                verifying
                    .verify(message.as_bytes(), &Signature::from_bytes(&sig))
                    .unwrap();
                let body = message.split_once('.').unwrap().1;
                serde_json::from_slice::<Claims>(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap()
            })
        },
    );
}

fn handles(c: &mut Criterion) {
    c.bench_function("Handle::generate + hash (session creation)", |b| {
        b.iter(|| {
            let h = Handle::generate("wxs_");
            let hash = h.hash();
            (h.into_secret(), hash)
        })
    });
    let presented = Handle::generate("wxr_").into_secret();
    c.bench_function("HandleHash::of (refresh token / session lookup)", |b| {
        b.iter(|| HandleHash::of(black_box(&presented)))
    });
}

fn sealing(c: &mut Criterion) {
    let sealer = MasterKey::generate().sealer();
    let context = "session_key:wx0000000000000001:oAbCdEfGhIjKlMnOpQrStUvWxYz0";
    let session_key = b"tiihtNczf5v6AKRyjwEUhQ==";
    let sealed = sealer.seal(context, session_key);
    c.bench_function("Sealer::seal (session_key, AES-256-GCM)", |b| {
        b.iter(|| sealer.seal(black_box(context), black_box(session_key)))
    });
    c.bench_function("Sealer::open (session_key, AES-256-GCM)", |b| {
        b.iter(|| sealer.open(black_box(context), black_box(&sealed)).unwrap())
    });
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! {
    name = hot_paths;
    config = config();
    targets = legacy_decrypt, jwt, jwt_preparsed, handles, sealing
}
criterion_main!(hot_paths);
