//! One revocation: which tokens of which issuer it covers, and until when.

use serde::{Deserialize, Serialize};

/// Longest text accepted for a `jti`, `sub`, `sid` or issuer.
pub(crate) const MAX_VALUE_BYTES: usize = 1024;

/// Which tokens of an issuer a revocation covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Selector {
    /// One token, by its `jti`.
    Jti { jti: String },
    /// Every token of a subject issued (`iat`) before a time.
    Sub { sub: String, issued_before: u64 },
    /// Every token of an OIDC session, by its `sid`.
    Sid { sid: String },
    /// Every token of the issuer issued before a time: everyone logs in again.
    Issuer { issued_before: u64 },
}

impl Selector {
    /// Every [`Self::kind`].
    pub(crate) const KINDS: [&'static str; 4] = ["jti", "sub", "sid", "issuer"];

    /// Closed set of labels for metrics and logs.
    pub(crate) const fn kind(&self) -> &'static str {
        match self {
            Selector::Jti { .. } => "jti",
            Selector::Sub { .. } => "sub",
            Selector::Sid { .. } => "sid",
            Selector::Issuer { .. } => "issuer",
        }
    }

    /// The value a log line may show only as a hash (never the value itself).
    pub(crate) fn value(&self) -> Option<&str> {
        match self {
            Selector::Jti { jti } => Some(jti),
            Selector::Sub { sub, .. } => Some(sub),
            Selector::Sid { sid } => Some(sid),
            Selector::Issuer { .. } => None,
        }
    }
}

/// Who asked for a revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Origin {
    /// The admin API (`POST /v1/revocations`, `gatehouse revoke`).
    Admin,
    /// An OpenID Connect back-channel logout token.
    Backchannel,
    /// The watched `revocation.file`.
    File,
}

impl Origin {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Origin::Admin => "admin",
            Origin::Backchannel => "backchannel",
            Origin::File => "file",
        }
    }
}

/// A revocation as stored (one Redis stream entry, JSON) and listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Revocation {
    /// The provider's `issuer`.
    pub(crate) issuer: String,
    #[serde(flatten)]
    pub(crate) selector: Selector,
    /// Unix seconds after which no token it covers can still be accepted:
    /// the entry is ignored from then on and trimmed.
    pub(crate) expires_at: u64,
    /// Unix seconds when it was accepted.
    pub(crate) created_at: u64,
    pub(crate) by: Origin,
}

impl Revocation {
    /// Still covering tokens at `now`.
    pub(crate) fn is_live(&self, now: u64) -> bool {
        now < self.expires_at
    }
}

/// What the admin API (`POST /v1/revocations`) and the watched file take:
/// an issuer and exactly one of `jti`, `sub` and `sid`, or `issued_before`
/// alone for the whole issuer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevocationRequest {
    pub(crate) issuer: String,
    #[serde(default)]
    pub(crate) jti: Option<String>,
    #[serde(default)]
    pub(crate) sub: Option<String>,
    #[serde(default)]
    pub(crate) sid: Option<String>,
    /// Unix seconds; with `sub` (default: now, see [`cutoff_now`]) or alone.
    #[serde(default)]
    pub(crate) issued_before: Option<u64>,
    /// Unix seconds; default: when no token the entry covers can still be accepted.
    #[serde(default)]
    pub(crate) expires_at: Option<u64>,
}

/// The cut-off "now" stands for: the end of this second. `iat` counts whole
/// seconds, so a token stamped with this second may have been issued before
/// the revocation; it is covered (fail closed), and a token issued after
/// passes from the next second on.
pub(crate) const fn cutoff_now(now: u64) -> u64 {
    now.saturating_add(1)
}

/// Why a request names no revocation gatehouse can keep.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RequestError {
    #[error("name exactly one of `jti`, `sub` and `sid`, or `issued_before` alone for the whole issuer")]
    Selector,
    #[error("`issued_before` only applies to `sub` or to a whole issuer")]
    IssuedBefore,
    #[error("`{0}` must be 1 to 1024 bytes")]
    Length(&'static str),
    #[error("`issued_before` is in the future")]
    FutureCutoff,
    #[error("`expires_at` has passed")]
    Expired,
}

impl RevocationRequest {
    /// The entry this asks for, accepted at `now`; `expiry(issued_before)`
    /// gives the default `expires_at` (see `RevocationService::expiry`).
    pub(crate) fn into_entry(
        self,
        now: u64,
        by: Origin,
        expiry: impl Fn(&str, u64) -> u64,
    ) -> Result<Revocation, RequestError> {
        check_length("issuer", &self.issuer)?;
        let selector = match (self.jti, self.sub, self.sid, self.issued_before) {
            (Some(jti), None, None, None) => Selector::Jti { jti: checked("jti", jti)? },
            (None, Some(sub), None, cutoff) => {
                Selector::Sub { sub: checked("sub", sub)?, issued_before: cutoff.unwrap_or(cutoff_now(now)) }
            }
            (None, None, Some(sid), None) => Selector::Sid { sid: checked("sid", sid)? },
            (None, None, None, Some(cutoff)) => Selector::Issuer { issued_before: cutoff },
            (Some(_), None, None, Some(_)) | (None, None, Some(_), Some(_)) => {
                return Err(RequestError::IssuedBefore)
            }
            _ => return Err(RequestError::Selector),
        };
        let issued_before = match &selector {
            Selector::Sub { issued_before, .. } | Selector::Issuer { issued_before } => *issued_before,
            Selector::Jti { .. } | Selector::Sid { .. } => now,
        };
        // A cut-off ahead of the clock would refuse tokens not issued yet.
        if issued_before > now.saturating_add(60) {
            return Err(RequestError::FutureCutoff);
        }
        let expires_at = self.expires_at.unwrap_or_else(|| expiry(&self.issuer, issued_before));
        if expires_at <= now {
            return Err(RequestError::Expired);
        }
        Ok(Revocation { issuer: self.issuer, selector, expires_at, created_at: now, by })
    }
}

fn check_length(name: &'static str, value: &str) -> Result<(), RequestError> {
    if value.is_empty() || value.len() > MAX_VALUE_BYTES {
        return Err(RequestError::Length(name));
    }
    Ok(())
}

fn checked(name: &'static str, value: String) -> Result<String, RequestError> {
    check_length(name, &value)?;
    Ok(value)
}

#[cfg(test)]
mod tests;
