//! Strict JWS compact parsing and verification (RFC 7515, 7519, 8725).
//!
//! The token never chooses how it is verified: the algorithm must be in the
//! provider's pinned list, keys come only from the provider's key set, and
//! `jku`/`x5u`/`jwk`/`x5c` header members are never read. Header extensions
//! gatehouse does not implement (`crit`, `b64: false`, nested JWTs) are refused.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::claims::{Claims, KeptClaims};
use super::strict_json;
use crate::alg::Algorithm;
use crate::keys::{KeyLookup, KeySet};

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TokenError {
    TooLarge,
    Malformed,
    /// A JWE (five segments): gatehouse verifies signed tokens only.
    Encrypted,
    UnsupportedHeader,
    AlgorithmNotAllowed,
    UnknownKid,
    NoMatchingKey,
    BadSignature,
    Expired,
    NotYetValid,
    IssuedInFuture,
    MissingExpiration,
    LifetimeTooLong,
    WrongIssuer,
    WrongAudience,
    InvalidClaim,
    /// The header's `typ` is not one of the provider's `token_types`.
    WrongTokenType,
    /// The authorization server says the token is not active (RFC 7662).
    Inactive,
    /// No entry of the provider's API-key file matches.
    UnknownApiKey,
}

impl TokenError {
    /// Every variant, for tables and tests.
    pub const ALL: [TokenError; 19] = [
        TokenError::TooLarge,
        TokenError::Malformed,
        TokenError::Encrypted,
        TokenError::UnsupportedHeader,
        TokenError::AlgorithmNotAllowed,
        TokenError::UnknownKid,
        TokenError::NoMatchingKey,
        TokenError::BadSignature,
        TokenError::Expired,
        TokenError::NotYetValid,
        TokenError::IssuedInFuture,
        TokenError::MissingExpiration,
        TokenError::LifetimeTooLong,
        TokenError::WrongIssuer,
        TokenError::WrongAudience,
        TokenError::InvalidClaim,
        TokenError::WrongTokenType,
        TokenError::Inactive,
        TokenError::UnknownApiKey,
    ];

    /// What went wrong, in words safe to show to clients (in
    /// `WWW-Authenticate`): never token text, claims or key material, and
    /// never a `"` or `\`.
    pub const fn description(self) -> &'static str {
        match self {
            TokenError::TooLarge => "token is larger than allowed",
            TokenError::Malformed => "token is malformed",
            TokenError::Encrypted => "encrypted tokens are not accepted",
            TokenError::UnsupportedHeader => "token uses an unsupported header extension",
            TokenError::AlgorithmNotAllowed => "token algorithm is not accepted",
            TokenError::UnknownKid => "no key matches the token's key id",
            TokenError::NoMatchingKey => "no key can verify the token's algorithm",
            TokenError::BadSignature => "signature is invalid",
            TokenError::Expired => "token has expired",
            TokenError::NotYetValid => "token is not yet valid",
            TokenError::IssuedInFuture => "token was issued in the future",
            TokenError::MissingExpiration => "token has no expiration",
            TokenError::LifetimeTooLong => "token lifetime exceeds the allowed maximum",
            TokenError::WrongIssuer => "token issuer is not accepted",
            TokenError::WrongAudience => "token audience is not accepted",
            TokenError::InvalidClaim => "token claim has the wrong type",
            TokenError::WrongTokenType => "token type is not accepted",
            TokenError::Inactive => "token is not active",
            TokenError::UnknownApiKey => "API key is not known",
        }
    }

    /// Stable snake_case name for metrics and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenError::TooLarge => "token_too_large",
            TokenError::Malformed => "malformed_token",
            TokenError::Encrypted => "encrypted_token",
            TokenError::UnsupportedHeader => "unsupported_header",
            TokenError::AlgorithmNotAllowed => "algorithm_not_allowed",
            TokenError::UnknownKid => "unknown_kid",
            TokenError::NoMatchingKey => "no_matching_key",
            TokenError::BadSignature => "bad_signature",
            TokenError::Expired => "expired",
            TokenError::NotYetValid => "not_yet_valid",
            TokenError::IssuedInFuture => "issued_in_future",
            TokenError::MissingExpiration => "missing_expiration",
            TokenError::LifetimeTooLong => "lifetime_too_long",
            TokenError::WrongIssuer => "wrong_issuer",
            TokenError::WrongAudience => "wrong_audience",
            TokenError::InvalidClaim => "invalid_claim",
            TokenError::WrongTokenType => "wrong_token_type",
            TokenError::Inactive => "inactive_token",
            TokenError::UnknownApiKey => "unknown_api_key",
        }
    }
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.description())
    }
}

impl std::error::Error for TokenError {}

/// The JOSE header members gatehouse reads. Unknown members are ignored,
/// except the ones that change how the token must be processed.
#[derive(Deserialize)]
struct JoseHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    cty: Option<String>,
    #[serde(default)]
    crit: Option<Value>,
    #[serde(default)]
    b64: Option<Value>,
    #[serde(default)]
    typ: Option<Value>,
}

/// A token whose structure is valid but whose signature and claims are not
/// checked yet. Only its `iss` may be read before verification, to pick a provider.
#[derive(Debug)]
pub struct UnverifiedToken<'t> {
    alg: Algorithm,
    kid: Option<String>,
    /// The header's `typ`, when it is a string.
    typ: Option<String>,
    claims: Map<String, Value>,
    signing_input: &'t str,
    payload_b64: &'t str,
    signature: Vec<u8>,
}

/// The provider-specific rules a token must meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    pub issuer: String,
    pub audiences: Vec<String>,
    pub algorithms: Vec<Algorithm>,
    pub clock_skew_secs: u64,
    pub max_lifetime_secs: Option<u64>,
    pub require_expiration: bool,
    /// Accepted header `typ` values (RFC 9068 §4), lower-case and without an
    /// `application/` prefix; empty accepts any (and none).
    pub token_types: Vec<String>,
}

impl Validation {
    /// True when `typ` is acceptable: compared case-insensitively, with or
    /// without `application/` (RFC 7515 §4.1.9).
    pub fn accepts_type(&self, typ: Option<&str>) -> bool {
        if self.token_types.is_empty() {
            return true;
        }
        let Some(typ) = typ else { return false };
        let lower = typ.to_ascii_lowercase();
        let bare = lower.strip_prefix("application/").unwrap_or(&lower);
        self.token_types.iter().any(|accepted| accepted == bare)
    }
}

/// How a token was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Its JWS signature, with this algorithm.
    Signature(Algorithm),
    /// The authorization server's introspection answer.
    Introspection,
    /// A match in the provider's API-key file.
    ApiKey,
}

/// A token whose signature and claims passed.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub origin: Origin,
    /// What the Checks reusing it read (see [`Claims`]).
    pub claims: Claims,
    /// The payload segment as received (base64url), kept only for a provider
    /// with `payload_header` (see [`UnverifiedToken::payload_b64`]).
    pub payload_b64: Option<Box<str>>,
    /// Which key verified it (see `VerifyingKey::fingerprint`), or which
    /// API-key entry matched; 0 for an introspected token.
    pub key_fingerprint: u64,
    /// `exp`, if the token has one.
    pub exp: Option<f64>,
    /// Until when this verification may be reused, if sooner than `exp`
    /// (an introspection answer's `cache_ttl`).
    pub reuse_until: Option<f64>,
    /// What revocations can name in it, read once here for every Check of it.
    pub(crate) ids: crate::revocation::TokenIds,
    /// The identity headers its Checks set and strip, rendered once its
    /// provider is known (empty until then).
    pub identity: super::identity::TokenIdentity,
}

impl PartialEq for VerifiedToken {
    fn eq(&self, other: &Self) -> bool {
        self.origin == other.origin
            && self.claims == other.claims
            && self.key_fingerprint == other.key_fingerprint
    }
}

/// Parses a compact JWS without trusting any of it.
pub fn parse(token: &str, max_bytes: usize) -> Result<UnverifiedToken<'_>, TokenError> {
    if token.len() > max_bytes {
        return Err(TokenError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    match parts.count() {
        0 => {}
        2 => return Err(TokenError::Encrypted),
        _ => return Err(TokenError::Malformed),
    }
    let header_bytes = decode_segment(header_b64)?;
    let header_map = strict_json::parse_object(&header_bytes).map_err(|_| TokenError::Malformed)?;
    let header: JoseHeader =
        serde_json::from_value(Value::Object(header_map)).map_err(|_| TokenError::Malformed)?;
    if header.crit.is_some()
        || header.b64.is_some()
        || header.cty.as_deref().is_some_and(|c| c.eq_ignore_ascii_case("JWT"))
    {
        return Err(TokenError::UnsupportedHeader);
    }
    let alg: Algorithm = header.alg.parse().map_err(|_| TokenError::AlgorithmNotAllowed)?;
    let claims =
        strict_json::parse_object(&decode_segment(payload_b64)?).map_err(|_| TokenError::Malformed)?;
    let signature = decode_segment(signature_b64)?;
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    let typ = match header.typ {
        Some(Value::String(typ)) => Some(typ),
        _ => None,
    };
    Ok(UnverifiedToken { alg, kid: header.kid, typ, claims, signing_input, payload_b64, signature })
}

/// Canonical base64url only: no padding, no `+`/`/`, no whitespace, no
/// non-zero trailing bits, so one token has exactly one spelling.
fn decode_segment(segment: &str) -> Result<Vec<u8>, TokenError> {
    if segment.is_empty() {
        return Err(TokenError::Malformed);
    }
    URL_SAFE_NO_PAD.decode(segment).map_err(|_| TokenError::Malformed)
}

impl UnverifiedToken<'_> {
    /// The unverified `iss`, used only to choose which provider verifies.
    pub fn issuer(&self) -> Option<&str> {
        self.claims.get("iss").and_then(Value::as_str)
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The header's `typ` (RFC 7515 §4.1.9), when it is a string.
    pub fn typ(&self) -> Option<&str> {
        self.typ.as_deref()
    }

    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The payload segment as received (base64url).
    pub fn payload_b64(&self) -> &str {
        self.payload_b64
    }

    /// Checks algorithm, signature and then claims, in that order, so that
    /// nothing about the claims is revealed for a token we did not issue.
    /// On success the claims move into the [`VerifiedToken`] (no copy) and
    /// this token is spent; on failure it is intact for the next provider.
    pub fn verify(
        &mut self,
        keys: &KeySet,
        rules: &Validation,
        now: u64,
    ) -> Result<VerifiedToken, TokenError> {
        if !rules.algorithms.contains(&self.alg) {
            return Err(TokenError::AlgorithmNotAllowed);
        }
        let message = self.signing_input.as_bytes();
        let key = match keys.lookup(self.kid(), self.alg) {
            KeyLookup::UnknownKid => return Err(TokenError::UnknownKid),
            KeyLookup::NoKeyForAlgorithm => return Err(TokenError::NoMatchingKey),
            KeyLookup::Candidates(candidates) => candidates
                .into_iter()
                .find(|key| key.verify(self.alg, message, &self.signature).is_ok())
                .ok_or(TokenError::BadSignature)?,
        };
        if !rules.accepts_type(self.typ()) {
            return Err(TokenError::WrongTokenType);
        }
        check_claims(&self.claims, rules, now)?;
        let claims = std::mem::take(&mut self.claims);
        Ok(VerifiedToken::new(Origin::Signature(self.alg), claims, key.fingerprint()))
    }
}

impl VerifiedToken {
    /// The algorithm of the signature that verified it, for a JWS.
    pub fn signature_alg(&self) -> Option<Algorithm> {
        match self.origin {
            Origin::Signature(alg) => Some(alg),
            Origin::Introspection | Origin::ApiKey => None,
        }
    }

    /// Drops the claims no Check of this policy reads (before it is cached).
    pub(crate) fn keep_claims(&mut self, kept: &KeptClaims) {
        self.claims = std::mem::take(&mut self.claims).keeping(kept);
    }

    /// A verification of `claims` (already checked) by `origin`.
    pub(crate) fn new(origin: Origin, claims: Map<String, Value>, key_fingerprint: u64) -> Self {
        VerifiedToken {
            origin,
            exp: claims.get("exp").and_then(Value::as_f64),
            reuse_until: None,
            ids: crate::revocation::TokenIds::of(&claims),
            claims: Claims::from_map(claims),
            identity: Default::default(),
            payload_b64: None,
            key_fingerprint,
        }
    }
}

/// Registered claim checks (RFC 7519 §4.1) with the provider's leeway.
pub fn check_claims(claims: &Map<String, Value>, rules: &Validation, now: u64) -> Result<(), TokenError> {
    match claims.get("iss") {
        Some(Value::String(iss)) if *iss == rules.issuer => {}
        Some(Value::String(_)) | None => return Err(TokenError::WrongIssuer),
        Some(_) => return Err(TokenError::InvalidClaim),
    }
    check_times_and_audience(claims, rules, now)
}

/// The claim checks of an introspection answer (RFC 7662 §2.2): as for a
/// JWT, except that `iss` is checked only when present.
pub(crate) fn check_introspected(
    claims: &Map<String, Value>,
    rules: &Validation,
    now: u64,
) -> Result<(), TokenError> {
    match claims.get("iss") {
        None => check_times_and_audience(claims, rules, now),
        Some(_) => check_claims(claims, rules, now),
    }
}

fn check_times_and_audience(
    claims: &Map<String, Value>,
    rules: &Validation,
    now: u64,
) -> Result<(), TokenError> {
    if claims.get("sub").is_some_and(|sub| !sub.is_string()) {
        return Err(TokenError::InvalidClaim);
    }
    let now = now as f64;
    let skew = rules.clock_skew_secs as f64;
    let exp = numeric_date(claims, "exp")?;
    let nbf = numeric_date(claims, "nbf")?;
    let iat = numeric_date(claims, "iat")?;
    match exp {
        Some(exp) if now >= exp + skew => return Err(TokenError::Expired),
        None if rules.require_expiration => return Err(TokenError::MissingExpiration),
        _ => {}
    }
    if nbf.is_some_and(|nbf| now + skew < nbf) {
        return Err(TokenError::NotYetValid);
    }
    if iat.is_some_and(|iat| iat > now + skew) {
        return Err(TokenError::IssuedInFuture);
    }
    if let Some(max) = rules.max_lifetime_secs {
        let lifetime = match exp {
            Some(exp) => exp - iat.unwrap_or(now),
            None => f64::INFINITY,
        };
        if lifetime > max as f64 + skew {
            return Err(TokenError::LifetimeTooLong);
        }
    }
    check_audience(claims.get("aud"), &rules.audiences)
}

fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(TokenError::InvalidClaim),
        Some(_) => Err(TokenError::InvalidClaim),
    }
}

fn check_audience(aud: Option<&Value>, accepted: &[String]) -> Result<(), TokenError> {
    if accepted.is_empty() {
        return match aud {
            None | Some(Value::String(_)) => Ok(()),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(()),
            Some(_) => Err(TokenError::InvalidClaim),
        };
    }
    let matches = |a: &str| accepted.iter().any(|ok| ok == a);
    match aud {
        Some(Value::String(a)) if matches(a) => Ok(()),
        Some(Value::Array(items)) => {
            if !items.iter().all(Value::is_string) {
                return Err(TokenError::InvalidClaim);
            }
            if items.iter().filter_map(Value::as_str).any(matches) {
                Ok(())
            } else {
                Err(TokenError::WrongAudience)
            }
        }
        Some(Value::String(_)) | None => Err(TokenError::WrongAudience),
        Some(_) => Err(TokenError::InvalidClaim),
    }
}

#[cfg(test)]
mod tests;
