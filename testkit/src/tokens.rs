//! Keys and tokens: the signing keys of a test IdP and the access tokens it
//! would issue. Signing is gatehouse's own `SigningKey` (the one `gatehouse
//! dev mint` uses); this adds the claim sets the tests start from.

use gatehouse::internals::{jwks_json, unix_now, Algorithm, SigningKey};
use serde_json::{json, Value};

/// The issuer of the test IdP.
pub const ISSUER: &str = "https://idp.test";
/// The audience of the API the tests protect.
pub const AUDIENCE: &str = "orders-api";

/// A fresh ES256 key with this `kid`.
pub fn es256_key(kid: &str) -> SigningKey {
    SigningKey::generate(Algorithm::ES256, kid).expect("an ES256 key")
}

/// A fresh ES256 key with a random `kid`.
pub fn random_key() -> SigningKey {
    es256_key(&format!("random-{:016x}", rand::random::<u64>()))
}

/// The claims of a valid access token issued now: `iss` [`ISSUER`], `aud`
/// [`AUDIENCE`], `sub` alice, `iat` now, `exp` in 5 minutes; `extra` is
/// merged over them (`null` removes a claim).
pub fn claims(extra: Value) -> Value {
    let now = unix_now();
    merged(json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300 }), extra)
}

/// `base` with the members of `extra` set over it (`null` removes one).
fn merged(mut base: Value, extra: Value) -> Value {
    if let (Some(map), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            if value.is_null() {
                map.remove(key);
            } else {
                map.insert(key.clone(), value.clone());
            }
        }
    }
    base
}

/// A valid access token ([`claims`]) for alice, signed by `key`.
pub fn token(key: &SigningKey) -> String {
    token_with(key, json!({}))
}

/// A valid access token ([`claims`] with `extra`) signed by `key`.
pub fn token_with(key: &SigningKey, extra: Value) -> String {
    key.mint(&claims(extra)).expect("signing")
}

/// `Bearer <token>`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The public JWKS of `keys`, on one line: fit for a single-quoted YAML
/// scalar (`jwks: { inline: '...' }`).
pub fn inline_jwks(keys: &[&SigningKey]) -> String {
    jwks_json(keys).replace('\n', "")
}

/// A valid access token ([`claims`] with `extra`) whose JOSE header has
/// this `typ` (none when `None`): an RFC 9068 access token (`at+jwt`), or
/// an ID token as OpenID Providers issue them (`JWT`, or no `typ`).
pub fn typed_token(key: &SigningKey, typ: Option<&str>, extra: Value) -> String {
    let mut header = json!({ "alg": key.alg().as_str(), "kid": key.kid() });
    if let Some(typ) = typ {
        header["typ"] = Value::from(typ);
    }
    key.sign_raw(header.to_string().as_bytes(), claims(extra).to_string().as_bytes()).expect("signing")
}

/// The issuer of the test authorization server's opaque tokens.
pub const AS_ISSUER: &str = "https://as.test";

/// A new opaque access token: random, not a JWS.
pub fn opaque_token() -> String {
    format!("op_{:032x}", rand::random::<u128>())
}

/// An RFC 7662 answer for an active token of [`AS_ISSUER`]: `sub` alice,
/// `aud` [`AUDIENCE`], `scope` `orders:read`, `exp` in 5 minutes; `extra`
/// merged over it (`null` removes a member).
pub fn active_answer(extra: Value) -> Value {
    let base =
        json!({ "active": true, "iss": AS_ISSUER, "scope": "orders:read", "client_id": "web", "iat": null });
    merged(claims(base), extra)
}
