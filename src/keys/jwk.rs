//! JWKS documents (RFC 7517) into [`KeySet`]s, with key hygiene: a key that
//! is not for signatures, of an unsupported type or curve, too weak, or at odds
//! with the pinned algorithms is skipped with a reason instead of loaded.

use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde::Deserialize;

use super::key::{KeyError, KeySet, VerifyingKey};
use crate::alg::{Algorithm, KeyFamily};

/// Default bound on the number of keys read from one JWKS.
pub const DEFAULT_MAX_KEYS: usize = 100;

/// JWK members are base64url; some IdPs pad them, which is harmless here
/// (the document comes from a configured source, not from the token).
const JWK_BASE64: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The whole document is unusable: a failed load, never an empty key set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    #[error("JWKS is not valid JSON with a `keys` array: {0}")]
    Malformed(String),
    #[error("JWKS has {count} keys, more than the limit of {max}")]
    TooManyKeys { count: usize, max: usize },
}

/// Why one key of a JWKS was not loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkipReason {
    #[error("`use` is `{0}`, not `sig`")]
    NotForSignatures(String),
    #[error("unsupported key type `{0}`")]
    UnsupportedKeyType(String),
    #[error("unsupported curve `{0}`")]
    UnsupportedCurve(String),
    #[error("`alg` `{0}` is not one of the provider's allowed algorithms")]
    AlgorithmNotAllowed(String),
    #[error("`alg` `{0}` does not fit key type `{1}`")]
    AlgorithmMismatch(String, String),
    #[error("member `{0}` is missing or not valid base64url")]
    BadMember(&'static str),
    #[error("duplicate `kid`: only the first key with it is used")]
    DuplicateKid,
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error("not a JSON object with the expected members")]
    NotAnObject,
}

/// A key that was skipped, for a log line (never carries key material).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    pub kid: Option<String>,
    pub reason: SkipReason,
}

/// The usable keys of a document plus what was left out.
#[derive(Debug)]
pub struct LoadedKeys {
    pub set: KeySet,
    pub skipped: Vec<SkippedKey>,
}

#[derive(Deserialize)]
struct Document {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    #[serde(rename = "use")]
    key_use: Option<String>,
    alg: Option<String>,
    kid: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
    k: Option<String>,
}

/// Parses a JWKS document. `allowed` is the provider's pinned algorithm list.
pub fn parse_jwks(bytes: &[u8], allowed: &[Algorithm], max_keys: usize) -> Result<LoadedKeys, JwksError> {
    let document: Document =
        serde_json::from_slice(bytes).map_err(|e| JwksError::Malformed(e.to_string()))?;
    if document.keys.len() > max_keys {
        return Err(JwksError::TooManyKeys { count: document.keys.len(), max: max_keys });
    }
    let mut keys = Vec::new();
    let mut skipped = Vec::new();
    for value in document.keys {
        let kid = value.get("kid").and_then(|k| k.as_str()).map(str::to_owned);
        let outcome = serde_json::from_value::<Jwk>(value)
            .map_err(|_| SkipReason::NotAnObject)
            .and_then(|jwk| key_from_jwk(&jwk, allowed));
        match outcome {
            Ok(key) if key.kid().is_some_and(|k| keys.iter().any(|o: &VerifyingKey| o.kid() == Some(k))) => {
                skipped.push(SkippedKey { kid, reason: SkipReason::DuplicateKid })
            }
            Ok(key) => keys.push(key),
            Err(reason) => skipped.push(SkippedKey { kid, reason }),
        }
    }
    Ok(LoadedKeys { set: KeySet::new(keys), skipped })
}

fn key_from_jwk(jwk: &Jwk, allowed: &[Algorithm]) -> Result<VerifyingKey, SkipReason> {
    if let Some(key_use) = &jwk.key_use {
        if key_use != "sig" {
            return Err(SkipReason::NotForSignatures(key_use.clone()));
        }
    }
    let family = match jwk.kty.as_str() {
        "RSA" => KeyFamily::Rsa,
        "EC" => KeyFamily::Ec,
        "OKP" => KeyFamily::Okp,
        "oct" => KeyFamily::Hmac,
        other => return Err(SkipReason::UnsupportedKeyType(other.to_owned())),
    };
    let algs = usable_algorithms(jwk, family, allowed)?;
    let kid = jwk.kid.clone();
    let key = match family {
        KeyFamily::Rsa => VerifyingKey::rsa(kid, &member(&jwk.n, "n")?, &member(&jwk.e, "e")?, &algs)?,
        KeyFamily::Ec => {
            let alg = match jwk.crv.as_deref() {
                Some("P-256") => Algorithm::ES256,
                Some("P-384") => Algorithm::ES384,
                other => return Err(SkipReason::UnsupportedCurve(other.unwrap_or("").to_owned())),
            };
            if !algs.contains(&alg) {
                return Err(SkipReason::AlgorithmNotAllowed(alg.as_str().to_owned()));
            }
            VerifyingKey::ec(kid, alg, &member(&jwk.x, "x")?, &member(&jwk.y, "y")?)?
        }
        KeyFamily::Okp => {
            if jwk.crv.as_deref() != Some("Ed25519") {
                return Err(SkipReason::UnsupportedCurve(jwk.crv.clone().unwrap_or_default()));
            }
            VerifyingKey::ed25519(kid, &member(&jwk.x, "x")?)?
        }
        KeyFamily::Hmac => VerifyingKey::hmac(kid, &member(&jwk.k, "k")?, &algs)?,
    };
    Ok(key)
}

/// The algorithms a key may serve: its declared `alg` if it has one (which must
/// be allowed and fit its type), otherwise every allowed algorithm of its family.
fn usable_algorithms(
    jwk: &Jwk,
    family: KeyFamily,
    allowed: &[Algorithm],
) -> Result<Vec<Algorithm>, SkipReason> {
    match &jwk.alg {
        Some(name) => {
            let alg: Algorithm = name.parse().map_err(|_| SkipReason::AlgorithmNotAllowed(name.clone()))?;
            if alg.family() != family {
                return Err(SkipReason::AlgorithmMismatch(name.clone(), jwk.kty.clone()));
            }
            if !allowed.contains(&alg) {
                return Err(SkipReason::AlgorithmNotAllowed(name.clone()));
            }
            Ok(vec![alg])
        }
        None => {
            let algs: Vec<_> = allowed.iter().copied().filter(|a| a.family() == family).collect();
            if algs.is_empty() {
                let name = match family {
                    KeyFamily::Hmac => "HS*",
                    KeyFamily::Rsa => "RS*/PS*",
                    KeyFamily::Ec => "ES*",
                    KeyFamily::Okp => "EdDSA",
                };
                return Err(SkipReason::AlgorithmNotAllowed(name.to_owned()));
            }
            Ok(algs)
        }
    }
}

fn member(value: &Option<String>, name: &'static str) -> Result<Vec<u8>, SkipReason> {
    let text = value.as_deref().ok_or(SkipReason::BadMember(name))?;
    JWK_BASE64.decode(text).map_err(|_| SkipReason::BadMember(name))
}

#[cfg(test)]
mod tests;
