//! `jsonwebtoken` 12 as an independent oracle for gatehouse's hand-written JWS
//! verification (kept by measurement: benches/verify_oracle.rs).
//!
//! Random claim sets (random `iss`, `aud`, `sub`, and extra claims of any JSON
//! shape: strings with any Unicode, integers, floats, nested objects and
//! arrays) are signed with RS256, ES256, EdDSA or HS256 by gatehouse's
//! `SigningKey`; then:
//!
//! - gatehouse accepts ⇒ `jsonwebtoken` accepts (same key as a `DecodingKey`
//!   built from the same JWK, algorithm pinned, the same `iss`, `aud`, `exp`
//!   and 60 s leeway) and reads equal claims;
//! - tampered tokens (a flipped signature bit, another token's payload under
//!   this token's signature, a changed `alg` with the signature kept):
//!   `jsonwebtoken` rejects them for a signature reason (`InvalidSignature`
//!   or `InvalidAlgorithm`) ⇒ gatehouse rejects them too, also when its
//!   validation allows the swapped algorithm besides the key's own.
//!
//! gatehouse is stricter than `jsonwebtoken` by design (duplicate members,
//! `crit`, `b64`, `cty: JWT`, JWE); tokens minted from a map never hit those
//! differences. The fuzz target `fuzz/fuzz_targets/jwt_oracle.rs` covers
//! crafted headers and payloads.

use std::collections::HashMap;
use std::sync::LazyLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use gatehouse::internals::{parse_jwks, parse_token, KeySet, TokenError, Validation, VerifiedToken};
use gatehouse_testkit::{jwks_json, unix_now, Algorithm, SigningKey};
use jsonwebtoken::errors::ErrorKind;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const MAX_TOKEN_BYTES: usize = 64 * 1024;
const ALGORITHMS: [Algorithm; 4] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA, Algorithm::HS256];
const LEEWAY: u64 = 60;

/// One key per algorithm (generated once: RSA generation is slow), the
/// gatehouse key set of all four, and `jsonwebtoken`'s decoding key for each.
struct Keys {
    signing: HashMap<Algorithm, SigningKey>,
    set: KeySet,
    decoding: HashMap<Algorithm, jsonwebtoken::DecodingKey>,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    let signing: HashMap<_, _> = ALGORITHMS
        .iter()
        .map(|&alg| (alg, SigningKey::generate(alg, format!("oracle-{alg}")).unwrap()))
        .collect();
    let all: Vec<&SigningKey> = ALGORITHMS.iter().map(|alg| &signing[alg]).collect();
    let every_alg = [
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
        Algorithm::HS256,
        Algorithm::HS512,
    ];
    let loaded = parse_jwks(jwks_json(&all).as_bytes(), &every_alg, 16).unwrap();
    assert_eq!(loaded.set.len(), ALGORITHMS.len(), "every oracle key loads: {:?}", loaded.skipped);
    let decoding = signing
        .iter()
        .map(|(&alg, key)| {
            let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.public_jwk()).unwrap();
            (alg, jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap())
        })
        .collect();
    Keys { signing, set: loaded.set, decoding }
});

fn jwt_alg(alg: Algorithm) -> jsonwebtoken::Algorithm {
    alg.as_str().parse().unwrap()
}

/// An `alg` the token switches to, keeping its signature: one of the key's
/// own family where there is one (RSA PKCS#1 → PSS, P-256 → P-384, HS256 →
/// HS512), else another family's (EdDSA → HS256, the confusion attack).
fn swapped(alg: Algorithm) -> Algorithm {
    match alg {
        Algorithm::RS256 => Algorithm::PS256,
        Algorithm::ES256 => Algorithm::ES384,
        Algorithm::HS256 => Algorithm::HS512,
        _ => Algorithm::HS256,
    }
}

/// What the token must meet, for gatehouse.
fn validation(algorithms: Vec<Algorithm>, iss: &str, aud: &str) -> Validation {
    Validation {
        issuer: iss.to_owned(),
        audiences: vec![aud.to_owned()],
        algorithms,
        clock_skew_secs: LEEWAY,
        max_lifetime_secs: None,
        require_expiration: true,
        token_types: Vec::new(),
    }
}

/// The same rules for `jsonwebtoken`, algorithm pinned to the key's.
fn jwt_validation(alg: Algorithm, iss: &str, aud: &str) -> jsonwebtoken::Validation {
    let mut rules = jsonwebtoken::Validation::new(jwt_alg(alg));
    rules.set_issuer(&[iss]);
    rules.set_audience(&[aud]);
    rules.set_required_spec_claims(&["exp"]);
    rules.validate_exp = true;
    rules.validate_nbf = true;
    rules.leeway = LEEWAY;
    rules
}

fn gatehouse_verify(token: &str, rules: &Validation, now: u64) -> Result<VerifiedToken, TokenError> {
    parse_token(token, MAX_TOKEN_BYTES)?.verify(&KEYS.set, rules, now)
}

fn jwt_verify(
    token: &str,
    alg: Algorithm,
    iss: &str,
    aud: &str,
) -> jsonwebtoken::errors::Result<Map<String, Value>> {
    jsonwebtoken::decode::<Map<String, Value>>(token, &KEYS.decoding[&alg], &jwt_validation(alg, iss, aud))
        .map(|data| data.claims)
}

fn signature_rejection(kind: &ErrorKind) -> bool {
    matches!(kind, ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm)
}

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

/// Any JSON value, nested up to a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("JSON numbers are finite", |f| f.is_finite()).prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        "[a-z ]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Registered claims gatehouse checks are left to the generator of the token.
const REGISTERED: [&str; 6] = ["iss", "aud", "sub", "exp", "nbf", "iat"];

/// A claim set valid for `iss`/`aud` at `now`, with random extra claims.
#[derive(Debug, Clone)]
struct Claims {
    iss: String,
    aud: String,
    claims: Value,
}

fn claims(now: u64) -> impl Strategy<Value = Claims> {
    (
        "https://[a-z]{1,10}\\.example(/[a-z0-9]{0,6})?",
        "[a-z][a-z0-9-]{0,15}",
        prop::collection::vec("[a-z][a-z0-9-]{0,10}", 0..3),
        any::<bool>(),
        any::<String>(),
        (0..3_000u64, 1..86_400u64, any::<bool>()),
        prop::collection::btree_map(any::<String>(), json_value(), 0..10),
    )
        .prop_map(move |(iss, aud, other_auds, aud_as_array, sub, (age, ttl, with_nbf), extra)| {
            let mut map: Map<String, Value> =
                extra.into_iter().filter(|(k, _)| !REGISTERED.contains(&k.as_str())).collect();
            let aud_claim = if aud_as_array || !other_auds.is_empty() {
                let mut all = other_auds;
                all.push(aud.clone());
                json!(all)
            } else {
                json!(aud)
            };
            let iat = now - age;
            map.insert("iss".into(), json!(iss));
            map.insert("aud".into(), aud_claim);
            map.insert("sub".into(), json!(sub));
            map.insert("iat".into(), json!(iat));
            map.insert("exp".into(), json!(now + ttl));
            if with_nbf {
                map.insert("nbf".into(), json!(iat));
            }
            Claims { iss, aud, claims: Value::Object(map) }
        })
}

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop::sample::select(ALGORITHMS.to_vec())
}

// ---------------------------------------------------------------------------
// Tampering
// ---------------------------------------------------------------------------

fn segments(token: &str) -> (&str, &str, &str) {
    let mut parts = token.split('.');
    (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap())
}

/// The token with bit `bit` of its signature flipped (still canonical base64url).
fn flip_signature_bit(token: &str, bit: usize) -> String {
    let (header, payload, signature) = segments(token);
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let bit = bit % (bytes.len() * 8);
    bytes[bit / 8] ^= 1 << (bit % 8);
    format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// `token`'s header and signature around `other`'s payload.
fn swap_payload(token: &str, other: &str) -> String {
    let (header, _, signature) = segments(token);
    let (_, payload, _) = segments(other);
    format!("{header}.{payload}.{signature}")
}

/// `token` with its header's `alg` replaced, the signature kept.
fn swap_alg(token: &str, kid: &str, alg: Algorithm) -> String {
    let (_, payload, signature) = segments(token);
    let header = json!({ "alg": alg.as_str(), "typ": "JWT", "kid": kid }).to_string();
    format!("{}.{payload}.{signature}", URL_SAFE_NO_PAD.encode(header))
}

/// A tampered token: `jsonwebtoken` (pinned to `alg`) must reject it for a
/// signature reason, and then gatehouse must reject it, pinned to `alg` and
/// with `widened` allowed too.
fn assert_both_reject(
    what: &str,
    token: &str,
    alg: Algorithm,
    widened: Algorithm,
    c: &Claims,
    now: u64,
) -> Result<(), TestCaseError> {
    let oracle = jwt_verify(token, alg, &c.iss, &c.aud);
    let kind = oracle.as_ref().err().map(|e| e.kind().clone());
    prop_assert!(
        kind.as_ref().is_some_and(signature_rejection),
        "{what} ({alg}): jsonwebtoken should reject for a signature reason, got {kind:?}"
    );
    for algorithms in [vec![alg], vec![alg, widened]] {
        let ours = gatehouse_verify(token, &validation(algorithms.clone(), &c.iss, &c.aud), now);
        prop_assert!(
            ours.is_err(),
            "{what} ({alg}, allowing {algorithms:?}): jsonwebtoken rejects ({kind:?}) but gatehouse accepts"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// gatehouse accepts ⇒ jsonwebtoken accepts with equal claims; tampered
    /// tokens jsonwebtoken rejects for a signature reason, gatehouse rejects.
    #[test]
    fn jsonwebtoken_agrees(
        alg in algorithm(),
        (c, other) in (claims(unix_now()), claims(unix_now())),
        bit in any::<usize>(),
    ) {
        let now = unix_now();
        let key = &KEYS.signing[&alg];
        let token = key.mint(&c.claims).unwrap();
        let rules = validation(vec![alg], &c.iss, &c.aud);

        // A valid token from a map of well-typed claims: gatehouse accepts it...
        let ours = gatehouse_verify(&token, &rules, now);
        prop_assert!(ours.is_ok(), "{alg}: gatehouse refuses a valid token: {ours:?}");
        let ours = ours.unwrap();
        prop_assert_eq!(ours.origin, gatehouse::internals::Origin::Signature(alg));
        // ...and then jsonwebtoken must, with the same claims.
        let theirs = jwt_verify(&token, alg, &c.iss, &c.aud);
        prop_assert!(theirs.is_ok(), "{}: gatehouse accepts, jsonwebtoken refuses: {:?}", alg, theirs);
        prop_assert_eq!(&theirs.unwrap(), &ours.claims.to_map(), "{}: claims differ", alg);

        let widened = swapped(alg);
        assert_both_reject("flipped signature bit", &flip_signature_bit(&token, bit), alg, widened, &c, now)?;
        let other_token = key.mint(&other.claims).unwrap();
        if segments(&other_token).1 != segments(&token).1 {
            assert_both_reject("swapped payload", &swap_payload(&token, &other_token), alg, widened, &c, now)?;
        }
        assert_both_reject("swapped alg", &swap_alg(&token, key.kid(), widened), alg, widened, &c, now)?;
    }
}

/// The fixed cases the properties stand on: each algorithm's token verifies
/// in both, and each kind of tampering is refused by both.
#[test]
fn oracle_fixtures() {
    let now = unix_now();
    let c = Claims {
        iss: "https://idp.example".into(),
        aud: "orders-api".into(),
        claims: json!({
            "iss": "https://idp.example", "aud": ["orders-api", "billing"], "sub": "alice",
            "iat": now, "exp": now + 300, "org": { "id": "acme", "tags": [1, 2.5, null, "x"] },
        }),
    };
    for alg in ALGORITHMS {
        let key = &KEYS.signing[&alg];
        let token = key.mint(&c.claims).unwrap();
        let ours = gatehouse_verify(&token, &validation(vec![alg], &c.iss, &c.aud), now).unwrap();
        assert_eq!(jwt_verify(&token, alg, &c.iss, &c.aud).unwrap(), ours.claims.to_map(), "{alg}");
        let other = key.mint(&json!({ "iss": c.iss, "aud": c.aud, "exp": now + 300 })).unwrap();
        for (what, bad) in [
            ("flipped", flip_signature_bit(&token, 0)),
            ("payload", swap_payload(&token, &other)),
            ("alg", swap_alg(&token, key.kid(), swapped(alg))),
        ] {
            assert_both_reject(what, &bad, alg, swapped(alg), &c, now).unwrap();
        }
    }
}
