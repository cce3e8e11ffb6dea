//! OpenID Connect Back-Channel Logout 1.0: checking a logout token (§2.6).
//! Pure, like the rest of the core: what to do with a valid one (revoke,
//! refuse replays) is the caller's.

use serde_json::Value;

use super::jwt::{self, TokenError};
use super::policy::{Policy, Provider};

/// The event a logout token must name (§2.4).
const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// Longest a logout token is taken after its `iat` (plus the provider's clock skew).
pub(crate) const MAX_LOGOUT_TOKEN_AGE_SECS: u64 = 300;
/// Largest logout token read.
const MAX_LOGOUT_TOKEN_BYTES: usize = 16 * 1024;

/// A valid logout token: whom to log out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Logout {
    pub(crate) issuer: String,
    pub(crate) sub: Option<String>,
    pub(crate) sid: Option<String>,
    pub(crate) jti: String,
    /// Its `exp`: how long its `jti` must be remembered to refuse a replay.
    pub(crate) exp: u64,
}

/// Why a logout token is refused (the `error_description` of the 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LogoutError {
    #[error("the logout token is not a valid JWT: {0}")]
    Token(TokenError),
    #[error("no provider with back-channel logout has this issuer")]
    UnknownIssuer,
    #[error("the provider's keys are not loaded")]
    KeysUnavailable,
    #[error("`typ` must be `logout+jwt`")]
    Type,
    #[error("the `events` claim must name the back-channel logout event")]
    Events,
    #[error("a logout token carries `sub`, `sid` or both, as strings")]
    Subject,
    #[error("a logout token must not carry `nonce`")]
    Nonce,
    #[error("a logout token needs `jti`, `iat` and `exp`")]
    Claims,
    #[error("the logout token was issued too long ago")]
    Stale,
}

/// Checks a logout token against the providers that accept them: signed by
/// the provider's keys with a pinned algorithm, its `iss`, `aud`, `exp` and
/// `iat` valid, issued within the last few minutes, naming the logout event,
/// a subject or session, a `jti`, and no `nonce`.
pub(crate) fn verify_logout_token(policy: &Policy, raw: &str, now: u64) -> Result<Logout, LogoutError> {
    let mut parsed = jwt::parse(raw, MAX_LOGOUT_TOKEN_BYTES).map_err(LogoutError::Token)?;
    let provider = logout_provider(policy, parsed.issuer())?;
    if parsed.typ().is_some_and(|typ| !is_logout_type(typ)) {
        return Err(LogoutError::Type);
    }
    let keys = provider.keys.current().ok_or(LogoutError::KeysUnavailable)?;
    let mut validation = provider.validation.clone();
    validation.require_expiration = true;
    validation.max_lifetime_secs = None;
    let token = parsed.verify(&keys, &validation, now).map_err(LogoutError::Token)?;
    let claims = &token.claims;
    let events = claims.get("events").and_then(Value::as_object);
    if !events.and_then(|e| e.get(LOGOUT_EVENT)).is_some_and(Value::is_object) {
        return Err(LogoutError::Events);
    }
    if claims.contains_key("nonce") {
        return Err(LogoutError::Nonce);
    }
    let text =
        |name: &str| claims.get(name).and_then(Value::as_str).filter(|v| !v.is_empty()).map(str::to_owned);
    let (sub, sid) = (text("sub"), text("sid"));
    let wrong_type = |name: &str| claims.get(name).is_some_and(|v| !v.is_string());
    if (sub.is_none() && sid.is_none()) || wrong_type("sub") || wrong_type("sid") {
        return Err(LogoutError::Subject);
    }
    let number = |name: &str| claims.get(name).and_then(Value::as_u64);
    let (Some(jti), Some(iat), Some(exp)) = (text("jti"), number("iat"), number("exp")) else {
        return Err(LogoutError::Claims);
    };
    if iat.saturating_add(MAX_LOGOUT_TOKEN_AGE_SECS + validation.clock_skew_secs) < now {
        return Err(LogoutError::Stale);
    }
    Ok(Logout { issuer: validation.issuer, sub, sid, jti, exp })
}

/// The provider whose issuer the (unverified) `iss` names, if it takes logout tokens.
fn logout_provider<'p>(policy: &'p Policy, issuer: Option<&str>) -> Result<&'p Provider, LogoutError> {
    let issuer = issuer.ok_or(LogoutError::UnknownIssuer)?;
    policy
        .providers()
        .iter()
        .find(|p| p.backchannel_logout && p.validation.issuer == issuer)
        .ok_or(LogoutError::UnknownIssuer)
}

/// `logout+jwt`, compared case-insensitively, `application/` allowed (RFC 7515 §4.1.9).
fn is_logout_type(typ: &str) -> bool {
    let typ = typ.get(..12).filter(|p| p.eq_ignore_ascii_case("application/")).map_or(typ, |_| &typ[12..]);
    typ.eq_ignore_ascii_case("logout+jwt")
}

#[cfg(test)]
mod tests;
