//! `jsonwebtoken` 12 as an independent oracle for gatehouse's hand-written
//! JWS verification (`parse_token` + `verify`), against the fixed key set
//! (HMAC `hs`, ES256 `es`) under each fixed validation.
//!
//! Input: bytes starting with a printable byte are a token as is (the
//! `token` target's seeds apply). A first byte below 0x20 selects a
//! structure-aware variant that signs fuzzer-chosen JSON with the fixture
//! keys (`SigningKey::sign_raw`), so valid signatures over odd headers and
//! payloads are reachable: bit 0 picks the key (HS256 `hs` / ES256 `es`),
//! bits 1-2 what the rest of the input is ([`structured`]), bit 3 flips a
//! signature bit after signing.
//!
//! For each validation, and each key family the validation allows (one
//! `DecodingKey` per family: `jsonwebtoken` wants every algorithm of a
//! validation in its key's family), with `jsonwebtoken` pinned to the
//! validation's algorithms of that family:
//!
//! 1. `jsonwebtoken` rejects for a signature reason (`InvalidSignature`,
//!    `InvalidAlgorithm`) ⇒ gatehouse does not accept the token with an
//!    algorithm of that family;
//! 2. gatehouse accepts with an algorithm of that family ⇒ `jsonwebtoken`
//!    accepts, and its claims equal gatehouse's.
//!
//! Choices, and the legitimate differences they leave out:
//!
//! - Only signature and claims are compared. `jsonwebtoken` reads the system
//!   clock, gatehouse takes `now` (the fixed [`NOW`]), so its `exp`/`nbf`
//!   checks are off (`validate_exp`/`validate_nbf` false), as are `aud` and
//!   required claims; `insecure_disable_signature_validation` is not set.
//!   Registered-claim checks are gatehouse's own (`check_claims`, and the
//!   `token` target).
//! - gatehouse is stricter and may refuse what `jsonwebtoken` accepts:
//!   duplicate JSON members, `crit` (jsonwebtoken allows `["b64"]` with
//!   `b64: true`), any `b64`, `cty: JWT`, a `kid` naming another key, HMAC
//!   secrets shorter than the hash. Only the two implications above must
//!   hold.
//! - `jsonwebtoken` types header members gatehouse never reads (`typ`,
//!   `jwk`, `x5c`, `enc`, `zip`, `url`, `nonce`, ...): when gatehouse accepts
//!   and `jsonwebtoken` cannot read the header (`decode_header` fails too),
//!   the oracle is `jsonwebtoken`'s signature check on its own
//!   (`crypto::verify`) and `serde_json`'s reading of the payload.
#![no_main]

use std::sync::LazyLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use gatehouse::internals::{parse_token, Algorithm, KeyFamily, SigningKey, Validation, VerifiedToken};
use gatehouse_fuzz::{
    claims, es256_signing_key, hs256_signing_key, HMAC_SECRET, ISS_ES, ISS_HS, KEYS, NOW, VALIDATIONS,
};
use jsonwebtoken::errors::ErrorKind;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};

const MAX_TOKEN_BYTES: usize = 8192;

/// One fixture key: gatehouse's signer, its header, a valid payload for it,
/// and `jsonwebtoken`'s decoding key for the same key.
struct Fixture {
    signer: SigningKey,
    family: KeyFamily,
    header: String,
    /// Valid claims for the key's provider, without the closing `}`.
    claims_open: String,
    decoding: jsonwebtoken::DecodingKey,
}

fn fixture(signer: SigningKey, issuer: &str, decoding: jsonwebtoken::DecodingKey) -> Fixture {
    let alg = signer.alg();
    let header = json!({ "alg": alg.as_str(), "typ": "JWT", "kid": signer.kid() }).to_string();
    let mut claims_open = claims(issuer, json!({})).to_string();
    claims_open.pop();
    Fixture { family: alg.family(), signer, header, claims_open, decoding }
}

static FIXTURES: LazyLock<[Fixture; 2]> = LazyLock::new(|| {
    let es = es256_signing_key();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(es.public_jwk()).expect("ES256 JWK");
    [
        fixture(
            hs256_signing_key(),
            ISS_HS,
            jsonwebtoken::DecodingKey::from_secret(HMAC_SECRET).expect("HMAC decoding key"),
        ),
        fixture(es, ISS_ES, jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("ES256 decoding key")),
    ]
});

/// A token signed by fixture key `selector & 1` over JSON from `rest`, by
/// `(selector >> 1) & 3`:
///
/// - 0: `header 0x00 payload`, both signed as they are;
/// - 1: `rest` is the payload, under the key's usual header;
/// - 2: `rest` is the header, over a valid payload;
/// - 3: `rest` is members appended to a valid payload (`{...valid claims<rest>}`).
///
/// With `selector & 8`, a signature bit is flipped after signing.
fn structured(selector: u8, rest: &[u8]) -> Option<String> {
    let key = &FIXTURES[usize::from(selector & 1)];
    let (header, payload): (&[u8], Vec<u8>) = match (selector >> 1) & 3 {
        0 => {
            let split = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            (&rest[..split], rest.get(split + 1..).unwrap_or_default().to_vec())
        }
        1 => (key.header.as_bytes(), rest.to_vec()),
        2 => (rest, format!("{}}}", key.claims_open).into_bytes()),
        _ => {
            let mut payload = key.claims_open.clone().into_bytes();
            payload.extend_from_slice(rest);
            payload.push(b'}');
            (key.header.as_bytes(), payload)
        }
    };
    let token = key.signer.sign_raw(header, &payload).ok()?;
    if selector & 8 == 0 {
        return Some(token);
    }
    let (signing_input, signature) = token.rsplit_once('.')?;
    let mut signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    *signature.first_mut()? ^= 1;
    Some(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

fn signature_rejection(kind: &ErrorKind) -> bool {
    matches!(kind, ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm)
}

fn jwt_algorithm(alg: Algorithm) -> jsonwebtoken::Algorithm {
    alg.as_str().parse().expect("jsonwebtoken names every gatehouse algorithm")
}

/// Signature and algorithm only (see the module doc).
fn jwt_validation(algorithms: Vec<jsonwebtoken::Algorithm>) -> jsonwebtoken::Validation {
    let mut rules = jsonwebtoken::Validation::new(algorithms[0]);
    rules.algorithms = algorithms;
    rules.required_spec_claims.clear();
    rules.validate_exp = false;
    rules.validate_nbf = false;
    rules.validate_aud = false;
    rules
}

/// When `jsonwebtoken` cannot read a header gatehouse accepted: its signature
/// check alone, and `serde_json`'s reading of the payload.
fn assert_signature_and_payload(token: &str, key: &Fixture, ours: &VerifiedToken) {
    let (signing_input, signature) = token.rsplit_once('.').expect("a verified token has three segments");
    let valid = jsonwebtoken::crypto::verify(
        signature,
        signing_input.as_bytes(),
        &key.decoding,
        jwt_algorithm(ours.signature_alg().expect("a JWS")),
    );
    assert!(
        matches!(valid, Ok(true)),
        "gatehouse accepts with {}, jsonwebtoken's signature check says {valid:?}: {token}",
        ours.signature_alg().expect("a JWS")
    );
    let payload = signing_input.split_once('.').expect("header.payload").1;
    let payload = URL_SAFE_NO_PAD.decode(payload).expect("gatehouse decoded this payload");
    let theirs: Map<String, Value> = serde_json::from_slice(&payload).expect("serde_json reads the payload");
    assert_eq!(theirs, ours.claims.to_map(), "claims differ: {token}");
}

fn check(token: &str) {
    for validation in VALIDATIONS.iter() {
        let ours = parse_token(token, MAX_TOKEN_BYTES).and_then(|mut t| t.verify(&KEYS, validation, NOW));
        for key in FIXTURES.iter() {
            compare(token, validation, key, ours.as_ref().ok());
        }
    }
}

fn compare(token: &str, validation: &Validation, key: &Fixture, ours: Option<&VerifiedToken>) {
    let algorithms: Vec<_> = validation
        .algorithms
        .iter()
        .filter(|a| a.family() == key.family)
        .map(|&a| jwt_algorithm(a))
        .collect();
    if algorithms.is_empty() {
        return;
    }
    let ours = ours.filter(|v| v.signature_alg().expect("a JWS").family() == key.family);
    let theirs =
        jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &jwt_validation(algorithms));
    match (ours, theirs) {
        (None, _) => {}
        (Some(ours), Ok(theirs)) => assert_eq!(theirs.claims, ours.claims.to_map(), "claims differ: {token}"),
        (Some(ours), Err(e)) if signature_rejection(e.kind()) => panic!(
            "jsonwebtoken rejects ({:?}), gatehouse accepts with {} under {:?}: {token}",
            e.kind(),
            ours.signature_alg().expect("a JWS"),
            validation.algorithms
        ),
        (Some(ours), Err(e)) => {
            assert!(
                matches!(e.kind(), ErrorKind::Json(_)) && jsonwebtoken::decode_header(token).is_err(),
                "gatehouse accepts with {}, jsonwebtoken rejects ({:?}): {token}",
                ours.signature_alg().expect("a JWS"),
                e.kind()
            );
            assert_signature_and_payload(token, key, ours);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    if first < 0x20 {
        if let Some(token) = structured(first, rest) {
            check(&token);
        }
    } else if let Ok(token) = std::str::from_utf8(data) {
        check(token);
    }
});
