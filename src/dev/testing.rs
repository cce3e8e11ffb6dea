// Unit-test support, compiled only under #[cfg(test)] (declared so in the parent module).
//! Tokens for the unit tests of every layer: HS256 signing through
//! [`SigningKey`] (the one signer) and the claim sets the tests start from.

use serde_json::{json, Value};

use super::SigningKey;
use crate::alg::Algorithm;

/// In `extra` claims, removes the claim instead of setting it.
pub(crate) const REMOVE: &str = "<remove>";

/// A compact HS256 JWS over the literal header and payload JSON.
pub(crate) fn hs256_raw(secret: &[u8], header: &str, payload: &str) -> String {
    let key = SigningKey::from_secret(Algorithm::HS256, "k1", secret).expect("a test secret of 32+ bytes");
    key.sign_raw(header.as_bytes(), payload.as_bytes()).expect("HMAC signing")
}

/// An HS256 token with header `{"alg":"HS256","typ":"JWT","kid":kid}`.
pub(crate) fn hs256(kid: &str, secret: &[u8], claims: &Value) -> String {
    let key = SigningKey::from_secret(Algorithm::HS256, kid, secret).expect("a test secret of 32+ bytes");
    key.mint(claims).expect("HMAC signing")
}

/// Valid claims for `issuer` at `now` (audience `api`, subject `alice`,
/// expiring 5 minutes later), with `extra` merged over them ([`REMOVE`]
/// removes a claim).
pub(crate) fn claims(issuer: &str, now: u64, extra: Value) -> Value {
    let mut base = json!({ "iss": issuer, "aud": "api", "sub": "alice", "exp": now + 300 });
    if let (Some(map), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            if value == REMOVE {
                map.remove(key);
            } else {
                map.insert(key.clone(), value.clone());
            }
        }
    }
    base
}
