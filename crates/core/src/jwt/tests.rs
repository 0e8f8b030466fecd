//! The key ring, for each algorithm.

use super::*;
use crate::crypto::MasterKey;

const T0: i64 = 1_750_000_000;

fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(T0 + secs).unwrap()
}

fn policy() -> KeyPolicy {
    KeyPolicy {
        issuer: "https://iss".into(),
        audience: "wxlogin".into(),
        publish_delay: std::time::Duration::from_secs(360),
        retire_after: std::time::Duration::from_secs(1020),
    }
}

fn ring_with(alg: Algorithm) -> (KeyRing, Sealer, SigningKeyRecord) {
    let sealer = MasterKey::generate().sealer();
    let rec = new_key_record(&sealer, alg, 1, at(0)).unwrap();
    let ring = KeyRing::from_records(vec![rec.clone()], &sealer, &policy(), at(0)).unwrap();
    (ring, sealer, rec)
}

fn claims(iat: i64, exp: i64) -> Claims {
    Claims {
        iss: "https://iss".into(),
        aud: "wxlogin".into(),
        sub: "u1".into(),
        iat: T0 + iat,
        exp: T0 + exp,
        jti: "j".into(),
        sid: "s".into(),
        appid: "wx1".into(),
        openid: None,
        unionid: None,
        external_id: None,
    }
}

#[test]
fn a_signed_token_verifies_until_it_expires() {
    for alg in Algorithm::ALL {
        let (ring, _, _) = ring_with(alg);
        let c = claims(0, 60);
        let token = ring.sign(&c).unwrap();
        assert_eq!(ring.verify_uncached(&token, at(0)).unwrap(), c, "{alg}");
        assert_eq!(ring.verify(&token, at(59)).unwrap(), c, "{alg}");
        assert_eq!(ring.verify(&token, at(60)), Err(TokenError::Expired));
    }
}

#[test]
fn opt_in_claims_are_signed_and_absent_ones_are_not_written() {
    let (ring, _, _) = ring_with(Algorithm::Es256);
    let plain = ring.sign(&claims(0, 60)).unwrap();
    let body = plain.split('.').nth(1).unwrap();
    let json = String::from_utf8(URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
    assert!(
        !json.contains("openid") && !json.contains("external_id"),
        "{json}"
    );
    let with = Claims {
        openid: Some("o1".into()),
        unionid: Some("un1".into()),
        ..claims(0, 60)
    };
    assert_eq!(
        ring.verify(&ring.sign(&with).unwrap(), at(0)).unwrap(),
        with
    );
}

#[test]
fn tokens_from_another_ring_or_tampered_are_refused() {
    for alg in Algorithm::ALL {
        let ((ring, _, _), (other, _, _)) = (ring_with(alg), ring_with(alg));
        let token = other.sign(&claims(0, 60)).unwrap();
        assert_eq!(ring.verify(&token, at(0)), Err(TokenError::UnknownKey));
        let good = ring.sign(&claims(0, 60)).unwrap();
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(0, 9999)).unwrap());
        parts[1] = &forged;
        assert_eq!(
            ring.verify(&parts.join("."), at(0)),
            Err(TokenError::Invalid)
        );
        assert_eq!(ring.verify("garbage", at(0)), Err(TokenError::Invalid));
    }
}

#[test]
fn a_private_key_sealed_under_another_master_key_is_reported() {
    let sealer = MasterKey::generate().sealer();
    let rec = new_key_record(&sealer, Algorithm::Es256, 1, at(0)).unwrap();
    let err = KeyRing::from_records(vec![rec], &MasterKey::generate().sealer(), &policy(), at(0))
        .unwrap_err();
    assert!(matches!(err, KeyRingError::Sealed(_)));
}

#[test]
fn a_stored_public_key_that_does_not_match_the_private_one_is_malformed() {
    let sealer = MasterKey::generate().sealer();
    let mut rec = new_key_record(&sealer, Algorithm::EdDsa, 1, at(0)).unwrap();
    rec.public_key[0] ^= 1;
    let err = KeyRing::from_records(vec![rec], &sealer, &policy(), at(0)).unwrap_err();
    assert!(matches!(err, KeyRingError::Malformed(_)));
}

#[test]
fn a_rotation_is_published_before_it_signs_and_the_old_key_verifies_until_its_tokens_expire() {
    // Across algorithms too: an EdDSA deployment rotating to ES256.
    for (old_alg, new_alg) in [
        (Algorithm::EdDsa, Algorithm::Es256),
        (Algorithm::Es256, Algorithm::Rs256),
        (Algorithm::Rs256, Algorithm::EdDsa),
    ] {
        let sealer = MasterKey::generate().sealer();
        let first = new_key_record(&sealer, old_alg, 1, at(0)).unwrap();
        let second = new_key_record(&sealer, new_alg, 2, at(1000)).unwrap();
        let records = vec![second.clone(), first.clone()];
        let ring =
            |now| KeyRing::from_records(records.clone(), &sealer, &policy(), at(now)).unwrap();
        let kids = |r: &KeyRing| -> Vec<String> {
            r.jwks()["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_owned())
                .collect()
        };

        // Just rotated: both published, the old one signs.
        let r = ring(1000);
        assert_eq!(kids(&r), [second.kid.clone(), first.kid.clone()]);
        let old_token = r.sign(&claims(1300, 1300 + 900)).unwrap();
        assert_eq!(r.current_kid(at(1359)), first.kid);
        // The ring loaded before the switch signs with the new key from its second on.
        assert_eq!(r.current_kid(at(1360)), second.kid);
        let new_token = r.sign(&claims(1360, 1360 + 900)).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&new_token)
                .unwrap()
                .kid
                .unwrap(),
            second.kid
        );
        assert_eq!(
            jsonwebtoken::decode_header(&new_token).unwrap().alg,
            new_alg.jwt()
        );

        // Reloaded later: the old key still verifies its last tokens, then leaves.
        let r = ring(1360 + 1019);
        assert!(r.verify(&old_token, at(1300 + 899)).is_ok());
        assert_eq!(kids(&r), [second.kid.clone(), first.kid.clone()]);
        let r = ring(1360 + 1020);
        assert_eq!(kids(&r), std::slice::from_ref(&second.kid));
        assert_eq!(r.verify(&new_token, at(1400)).unwrap().iat, T0 + 1360);
    }
}

#[test]
fn a_token_for_another_issuer_or_audience_is_refused() {
    let (ring, _, _) = ring_with(Algorithm::Es256);
    let wrong_aud = Claims {
        aud: "other".into(),
        ..claims(0, 60)
    };
    let wrong_iss = Claims {
        iss: "https://evil".into(),
        ..claims(0, 60)
    };
    assert_eq!(
        ring.verify(&ring.sign(&wrong_aud).unwrap(), at(0)),
        Err(TokenError::WrongAudience)
    );
    assert_eq!(
        ring.verify(&ring.sign(&wrong_iss).unwrap(), at(0)),
        Err(TokenError::WrongAudience)
    );
}

#[test]
fn jsonwebtoken_verifies_our_tokens_with_the_published_jwk() {
    use jsonwebtoken::{DecodingKey, Validation};

    for alg in Algorithm::ALL {
        let (ring, _, _) = ring_with(alg);
        let c = claims(0, 60);
        let ours = ring.sign(&c).unwrap();
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(ring.jwks()["keys"][0].clone()).unwrap();
        let key = DecodingKey::from_jwk(&jwk).unwrap();
        let mut validation = Validation::new(alg.jwt());
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        validation.set_audience(&["wxlogin"]);
        validation.set_issuer(&["https://iss"]);
        assert_eq!(
            jsonwebtoken::decode::<Claims>(&ours, &key, &validation)
                .unwrap()
                .claims,
            c,
            "{alg}"
        );
    }
}

#[test]
fn eddsa_tokens_are_byte_for_byte_what_jsonwebtoken_signs() {
    use jsonwebtoken::{EncodingKey, Header};

    let (ring, sealer, rec) = ring_with(Algorithm::EdDsa);
    let c = claims(0, 60);
    let der = sealer
        .open(&seal_context(&rec.kid), &rec.private_sealed)
        .unwrap();
    let mut header = Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(rec.kid.clone());
    let theirs = jsonwebtoken::encode(&header, &c, &EncodingKey::from_ed_der(&der)).unwrap();
    assert_eq!(ring.sign(&c).unwrap(), theirs);
}

#[test]
fn tokens_with_another_algorithm_or_a_mangled_signature_are_invalid() {
    for alg in Algorithm::ALL {
        let (ring, _, _) = ring_with(alg);
        let good = ring.sign(&claims(0, 60)).unwrap();
        let (message, signature) = good.rsplit_once('.').unwrap();
        let (_, payload) = message.split_once('.').unwrap();
        let kid = ring.current_kid(at(0));

        let mut headers: Vec<String> = ["none", "HS256", "ES256", "EdDSA", "RS256", "PS256"]
            .into_iter()
            .filter(|a| *a != alg.as_str())
            .map(|a| format!(r#"{{"alg":"{a}","kid":"{kid}"}}"#))
            .collect();
        headers.push(r#"{"alg":"none"}"#.into());
        for h in &headers {
            let h64 = URL_SAFE_NO_PAD.encode(h);
            assert_ne!(
                ring.verify(&format!("{h64}.{payload}."), at(0)),
                Ok(claims(0, 60))
            );
            let swapped = ring.verify(&format!("{h64}.{payload}.{signature}"), at(0));
            assert!(swapped.is_err(), "{alg} {h}");
        }
        let no_kid = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}"}}"#));
        assert_eq!(
            ring.verify(&format!("{no_kid}.{payload}.{signature}"), at(0)),
            Err(TokenError::UnknownKey)
        );
        for mangled in [
            format!("{message}."),
            format!("{message}.{}", &signature[..signature.len() - 2]),
            format!("{message}.{signature}AA"),
            format!("{message}.{signature}="),
            format!("{message}.{}", "A".repeat(signature.len())),
            format!("{message}.x.{signature}"),
            message.to_owned(),
        ] {
            assert_eq!(
                ring.verify(&mangled, at(0)),
                Err(TokenError::Invalid),
                "{alg} {mangled}"
            );
        }
    }
}

#[test]
fn the_jwks_gives_each_key_its_type_alg_use_and_thumbprint_kid() {
    for (alg, kty, members) in [
        (Algorithm::Es256, "EC", &["crv", "x", "y"][..]),
        (Algorithm::EdDsa, "OKP", &["crv", "x"][..]),
        (Algorithm::Rs256, "RSA", &["n", "e"][..]),
    ] {
        let (ring, sealer, rec) = ring_with(alg);
        let jwk = &ring.jwks()["keys"][0];
        assert_eq!(jwk["kty"], kty);
        assert_eq!(jwk["alg"], alg.as_str());
        assert_eq!(jwk["use"], "sig");
        for m in members {
            assert!(jwk[m].is_string(), "{alg} {m}");
        }
        let key = open_record(&rec, &sealer).unwrap();
        assert_eq!(jwk["kid"], key.thumbprint());
        assert_eq!(rec.kid, key.thumbprint());
        assert_eq!(ring.algorithms(), [alg]);
    }
}

#[test]
fn a_key_stored_before_thumbprint_kids_keeps_its_kid() {
    let sealer = MasterKey::generate().sealer();
    let (key, der) = KeyMaterial::generate(Algorithm::EdDsa).unwrap();
    let rec = SigningKeyRecord {
        kid: "legacy-kid-0123".into(),
        generation: 1,
        public_key: key.public_key().to_vec(),
        private_sealed: sealer.seal(&seal_context("legacy-kid-0123"), &der),
        created_at: at(0),
    };
    let ring = KeyRing::from_records(vec![rec], &sealer, &policy(), at(0)).unwrap();
    let token = ring.sign(&claims(0, 60)).unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.kid.as_deref(), Some("legacy-kid-0123"));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    assert_eq!(ring.jwks()["keys"][0]["kid"], "legacy-kid-0123");
    assert!(ring.verify(&token, at(0)).is_ok());
}

#[test]
fn a_verified_token_is_remembered_until_it_expires_and_only_by_its_ring() {
    for alg in Algorithm::ALL {
        let sealer = MasterKey::generate().sealer();
        let first = new_key_record(&sealer, alg, 1, at(0)).unwrap();
        let second = new_key_record(&sealer, alg, 1, at(0)).unwrap();
        let load = |r: &SigningKeyRecord| {
            KeyRing::from_records(vec![r.clone()], &sealer, &policy(), at(0)).unwrap()
        };
        let ring = load(&first);
        let c = claims(0, 60);
        let token = ring.sign(&c).unwrap();

        assert_eq!(ring.verify(&token, at(0)), Ok(c.clone()));
        assert!(
            ring.verified
                .contains_key(&<[u8; 32]>::from(Sha256::digest(&token)))
        );
        assert_eq!(ring.verify(&token, at(0)), Ok(c.clone()), "from the cache");
        // Expiry holds for a remembered token, to the second.
        assert_eq!(ring.verify(&token, at(60)), Err(TokenError::Expired));
        assert_eq!(ring.verify(&token, at(59)), Ok(c.clone()));
        // A token that only differs in its signature is not the remembered one.
        let mut forged = token.clone();
        forged.truncate(forged.len() - 2);
        forged.push_str(if token.ends_with("AA") { "AB" } else { "AA" });
        assert_eq!(ring.verify(&forged, at(0)), Err(TokenError::Invalid));

        // The ring reloaded without the token's key refuses it, remembered or not.
        let reloaded = load(&second);
        assert_eq!(reloaded.verify(&token, at(0)), Err(TokenError::UnknownKey));
    }
}
