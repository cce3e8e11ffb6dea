// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
use super::*;

const ASYMMETRIC: &[Algorithm] =
    &[Algorithm::RS256, Algorithm::PS256, Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA];

fn skipped_reasons(json: &str, allowed: &[Algorithm]) -> Vec<SkipReason> {
    parse_jwks(json.as_bytes(), allowed, DEFAULT_MAX_KEYS)
        .unwrap()
        .skipped
        .into_iter()
        .map(|s| s.reason)
        .collect()
}

#[test]
fn not_json_is_an_error_not_an_empty_set() {
    assert!(matches!(parse_jwks(b"<html>", ASYMMETRIC, 10), Err(JwksError::Malformed(_))));
    assert!(matches!(parse_jwks(b"{\"keys\": 5}", ASYMMETRIC, 10), Err(JwksError::Malformed(_))));
    assert!(matches!(parse_jwks(b"{}", ASYMMETRIC, 10), Err(JwksError::Malformed(_))));
}

#[test]
fn too_many_keys_is_refused() {
    let doc = format!("{{\"keys\": [{}]}}", ["{}"; 5].join(","));
    assert_eq!(
        parse_jwks(doc.as_bytes(), ASYMMETRIC, 4).unwrap_err(),
        JwksError::TooManyKeys { count: 5, max: 4 }
    );
}

#[test]
fn hygiene_skips_each_bad_key_with_its_reason() {
    let doc = r#"{"keys":[
        {"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"},
        {"kty":"foo"},
        {"kty":"EC","crv":"P-521","x":"AA","y":"AA"},
        {"kty":"OKP","crv":"X25519","x":"AA"},
        {"kty":"EC","crv":"P-256","alg":"RS256","x":"AA","y":"AA"},
        {"kty":"RSA","alg":"RS512","n":"AQAB","e":"AQAB"},
        {"kty":"RSA","n":"AQAB","e":"AQAB"},
        {"kty":"oct","k":"c2VjcmV0"},
        {"kty":"EC","crv":"P-256","x":"!!","y":"AA"},
        "not an object"
    ]}"#;
    let reasons = skipped_reasons(doc, ASYMMETRIC);
    assert_eq!(
        reasons,
        vec![
            SkipReason::NotForSignatures("enc".into()),
            SkipReason::UnsupportedKeyType("foo".into()),
            SkipReason::UnsupportedCurve("P-521".into()),
            SkipReason::UnsupportedCurve("X25519".into()),
            SkipReason::AlgorithmMismatch("RS256".into(), "EC".into()),
            SkipReason::AlgorithmNotAllowed("RS512".into()),
            SkipReason::Key(KeyError::RsaTooSmall { bits: 17 }),
            SkipReason::AlgorithmNotAllowed("HS*".into()),
            SkipReason::BadMember("x"),
            SkipReason::NotAnObject,
        ]
    );
}

#[test]
fn oct_keys_load_only_when_hmac_is_pinned() {
    let doc = r#"{"keys":[{"kty":"oct","kid":"s","k":"MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE"}]}"#;
    let loaded = parse_jwks(doc.as_bytes(), &[Algorithm::HS256], 10).unwrap();
    assert_eq!(loaded.set.len(), 1);
    assert!(loaded.skipped.is_empty());
}
