//! The answer to one Check, as plain data: allow with header changes and
//! metadata, or deny with a closed [`DenyReason`] that fixes the HTTP status,
//! the `WWW-Authenticate` challenge (RFC 6750 §3) and the JSON body.

use std::sync::Arc;

use super::jwt::{TokenError, VerifiedToken};

/// Realm in every `WWW-Authenticate` challenge.
pub(crate) const REALM: &str = "gatehouse";

/// Why a request was denied. A closed set: used as a metrics label and in logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DenyReason {
    MissingToken,
    MultipleTokens,
    /// The request to decide is missing or malformed: a CheckRequest without
    /// HTTP attributes, or a proxy's original-request headers missing,
    /// repeated or malformed.
    MalformedRequest,
    Token(TokenError),
    NoMatchingRule,
    /// The provider's keys are not loaded (remote JWKS never fetched).
    KeysUnavailable,
    /// Verified, but scopes required by the rule are missing.
    InsufficientScope,
    /// Verified, but a provider or claim condition of the rule failed.
    Forbidden,
    /// The path carries `%2F`/`%5C` and `allow_encoded_slashes` is off.
    EncodedSlash,
    /// The path cannot be normalized (bad escape, control byte, not absolute).
    InvalidPath,
    /// The route's `gatehouse_rule` context extension names no rule.
    UnknownRule,
    /// More header entries or bytes than `limits` allow.
    HeadersTooLarge,
    /// More Checks in progress than `limits.max_concurrent_checks`.
    Overloaded,
    /// Verified, but revoked (its `jti`, `sid`, subject or issuer).
    Revoked,
    /// An opaque token whose introspection answer is not in yet: the call
    /// is in flight past the wait, failed, or could not be made.
    IntrospectionUnavailable,
}

impl DenyReason {
    /// Every reason, token errors included: for tables, docs and tests.
    pub fn all() -> Vec<DenyReason> {
        use DenyReason::*;
        let mut all = vec![
            MissingToken,
            MultipleTokens,
            MalformedRequest,
            NoMatchingRule,
            KeysUnavailable,
            InsufficientScope,
            Forbidden,
            EncodedSlash,
            InvalidPath,
            UnknownRule,
            HeadersTooLarge,
            Overloaded,
            Revoked,
            IntrospectionUnavailable,
        ];
        // A new variant must be added above: this match stops compiling until it is listed here.
        for reason in &all {
            match reason {
                MissingToken
                | MultipleTokens
                | MalformedRequest
                | NoMatchingRule
                | KeysUnavailable
                | InsufficientScope
                | Forbidden
                | EncodedSlash
                | InvalidPath
                | UnknownRule
                | HeadersTooLarge
                | Overloaded
                | Revoked
                | IntrospectionUnavailable
                | Token(_) => {}
            }
        }
        all.extend(TokenError::ALL.map(Token));
        all
    }

    /// Stable snake_case name for metrics and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            DenyReason::MissingToken => "missing_token",
            DenyReason::MultipleTokens => "multiple_tokens",
            DenyReason::MalformedRequest => "malformed_request",
            DenyReason::NoMatchingRule => "no_matching_rule",
            DenyReason::KeysUnavailable => "keys_unavailable",
            DenyReason::InsufficientScope => "insufficient_scope",
            DenyReason::Forbidden => "forbidden",
            DenyReason::EncodedSlash => "encoded_slash",
            DenyReason::InvalidPath => "invalid_path",
            DenyReason::UnknownRule => "unknown_rule",
            DenyReason::HeadersTooLarge => "headers_too_large",
            DenyReason::Overloaded => "overloaded",
            DenyReason::Revoked => "revoked",
            DenyReason::IntrospectionUnavailable => "introspection_unavailable",
            DenyReason::Token(error) => error.as_str(),
        }
    }

    /// The HTTP status the client receives.
    pub const fn http_status(self) -> u16 {
        match self {
            DenyReason::MultipleTokens
            | DenyReason::MalformedRequest
            | DenyReason::EncodedSlash
            | DenyReason::InvalidPath
            | DenyReason::HeadersTooLarge => 400,
            DenyReason::MissingToken | DenyReason::Token(_) | DenyReason::Revoked => 401,
            DenyReason::NoMatchingRule
            | DenyReason::InsufficientScope
            | DenyReason::Forbidden
            | DenyReason::UnknownRule => 403,
            DenyReason::KeysUnavailable | DenyReason::Overloaded | DenyReason::IntrospectionUnavailable => {
                503
            }
        }
    }

    /// The OAuth error code (RFC 6750 §3.1) for the body and the challenge.
    pub const fn error_code(self) -> &'static str {
        match self {
            DenyReason::MissingToken => "unauthorized",
            DenyReason::MultipleTokens
            | DenyReason::MalformedRequest
            | DenyReason::EncodedSlash
            | DenyReason::InvalidPath
            | DenyReason::HeadersTooLarge => "invalid_request",
            DenyReason::Token(_) | DenyReason::Revoked => "invalid_token",
            DenyReason::NoMatchingRule => "no_matching_rule",
            DenyReason::InsufficientScope => "insufficient_scope",
            DenyReason::Forbidden | DenyReason::UnknownRule => "access_denied",
            DenyReason::KeysUnavailable | DenyReason::Overloaded | DenyReason::IntrospectionUnavailable => {
                "temporarily_unavailable"
            }
        }
    }

    /// A short human description: never token text, claims or key material.
    pub fn description(self) -> &'static str {
        match self {
            DenyReason::MissingToken => "a bearer token is required",
            DenyReason::MultipleTokens => "the request carries more than one credential, or a malformed one",
            DenyReason::MalformedRequest => "the request to decide is missing or malformed",
            DenyReason::NoMatchingRule => "no rule allows this request",
            DenyReason::KeysUnavailable => "signing keys are not available yet",
            DenyReason::InsufficientScope => "the token lacks a scope this route requires",
            DenyReason::Forbidden => "the token does not meet this route's requirements",
            DenyReason::EncodedSlash => "encoded slashes are not allowed in the path",
            DenyReason::InvalidPath => "the request path is invalid",
            DenyReason::UnknownRule => "the route names an unknown rule",
            DenyReason::HeadersTooLarge => "the request has too many or too large headers",
            DenyReason::Overloaded => "the authorizer is overloaded, retry later",
            DenyReason::Revoked => "token revoked",
            DenyReason::IntrospectionUnavailable => "the token cannot be checked right now, retry later",
            DenyReason::Token(error) => error.description(),
        }
    }

    /// The `WWW-Authenticate` value (RFC 6750 §3) for 401s and for 400s about
    /// credentials: no error attributes when no credential was sent at all.
    /// `insufficient_scope` needs the scope, see [`Deny::www_authenticate`].
    pub fn www_authenticate(self) -> Option<String> {
        match self {
            DenyReason::MissingToken => Some(format!("Bearer realm=\"{REALM}\"")),
            DenyReason::MultipleTokens | DenyReason::Token(_) | DenyReason::Revoked => Some(format!(
                "Bearer realm=\"{REALM}\", error=\"{}\", error_description=\"{}\"",
                self.error_code(),
                self.description()
            )),
            _ => None,
        }
    }

    /// The JSON body sent to the client.
    pub fn body(self) -> String {
        serde_json::json!({ "error": self.error_code(), "error_description": self.description() }).to_string()
    }
}

/// The outcome of one Check.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Allow(Allow),
    Deny(Deny),
}

/// Where a Check's verified identity came from: the token cache (`Hit`),
/// a verification made for this Check (`Miss`), or nowhere (`None`: no
/// token, anonymous access, or a Check that ended before an identity was
/// established). A closed set: a metrics label.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum CacheOutcome {
    #[default]
    None = 0,
    Hit = 1,
    Miss = 2,
}

impl CacheOutcome {
    pub const ALL: [CacheOutcome; 3] = [CacheOutcome::None, CacheOutcome::Hit, CacheOutcome::Miss];

    /// Its place in [`CacheOutcome::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            CacheOutcome::None => "none",
            CacheOutcome::Hit => "hit",
            CacheOutcome::Miss => "miss",
        }
    }
}

/// An allowed request and how to change it before it goes upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct Allow {
    /// Label of the rule that matched (its name, or `rules[i]`, or `default`).
    pub rule: Arc<str>,
    /// The provider that verified the token; `None` for anonymous access.
    pub provider: Option<Arc<str>>,
    /// Headers to set, overwriting any client-sent copy (shared with the
    /// verified token, which rendered them once).
    pub set_headers: super::identity::SetHeaders,
    /// Headers to strip. Never contains a header that is also set.
    pub remove_headers: super::identity::RemovedHeaders,
    /// Query parameters to strip (a token read from the query string).
    pub remove_query_params: Vec<Arc<str>>,
    /// The verified token, for dynamic metadata.
    pub token: Option<Arc<VerifiedToken>>,
    /// Which claims the dynamic metadata carries.
    pub(crate) metadata: Arc<super::policy::MetadataSpec>,
    /// Whether the identity came from the token cache.
    pub cache: CacheOutcome,
}

/// A denied request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deny {
    pub reason: DenyReason,
    /// Label of the rule that matched, if any.
    pub rule: Option<Arc<str>>,
    /// The provider whose verification failed, if one was chosen.
    pub provider: Option<Arc<str>>,
    /// For `InsufficientScope`: the scopes the rule requires, space-separated.
    pub scope: Option<Arc<str>>,
    /// Whether the identity (verified, then refused by the rule) came from the token cache.
    pub cache: CacheOutcome,
}

impl Deny {
    /// The challenge for this deny; `insufficient_scope` names the scope
    /// needed (RFC 6750 §3.1). Scope tokens never contain `"` or `\\`
    /// (checked at config load), so they are safe inside the quoted string.
    pub fn www_authenticate(&self) -> Option<String> {
        match (self.reason, &self.scope) {
            (DenyReason::InsufficientScope, Some(scope)) => Some(format!(
                "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", error_description=\"{}\", scope=\"{scope}\"",
                self.reason.description()
            )),
            (reason, _) => reason.www_authenticate(),
        }
    }
}

impl Decision {
    /// A deny not tied to any rule or provider.
    pub fn deny(reason: DenyReason) -> Self {
        Decision::Deny(Deny { reason, rule: None, provider: None, scope: None, cache: CacheOutcome::None })
    }

    /// Whether the identity came from the token cache.
    pub fn cache(&self) -> CacheOutcome {
        match self {
            Decision::Allow(allow) => allow.cache,
            Decision::Deny(deny) => deny.cache,
        }
    }

    /// `allow` or `deny`, for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Decision::Allow(_) => "allow",
            Decision::Deny(_) => "deny",
        }
    }
}

#[cfg(test)]
mod tests;
