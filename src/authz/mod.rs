//! The decision core: pure functions from a request and a [`Policy`] to a
//! [`Decision`]. Nothing here does I/O; keys are read through
//! [`KeySource::current`](crate::keys::KeySource::current), which never waits.
//!
//! [`Authorizer`] adds the one asynchronous step: when a token names a key id
//! the provider has not loaded, it asks the key source to refresh once and
//! decides again.

mod authorizer;
pub mod decision;
pub mod jwt;
pub mod policy;
pub mod request;
pub mod rules;
mod strict_json;
pub mod token;

use std::sync::Arc;

use serde_json::Value;

pub use authorizer::{unix_now, Authorizer};
pub use decision::{Allow, Decision, Deny, DenyReason};
pub use policy::{Policy, Provider};
pub use request::HttpRequest;

use jwt::{TokenError, VerifiedToken};
use rules::{Action, Rule};
use token::{Extraction, TokenSource};

/// Decides one request at time `now` (seconds since the Unix epoch).
pub fn evaluate(policy: &Policy, request: &HttpRequest<'_>, now: u64) -> Decision {
    let Some(rule) = policy.rules.iter().find(|r| r.matches(request)).or(policy.fallback.as_ref()) else {
        return Decision::deny(DenyReason::NoMatchingRule);
    };
    match &rule.action {
        Action::Anonymous => Decision::Allow(anonymous(policy, rule)),
        Action::Require { providers } => match authenticate(policy, providers, request, now) {
            Ok(verified) => Decision::Allow(authenticated(policy, rule, verified)),
            Err((reason, provider)) => Decision::Deny(Deny {
                reason,
                rule: Some(rule.label.clone()),
                provider: provider.map(|i| policy.providers[i].name.clone()),
            }),
        },
    }
}

/// A token that verified, with every source it was found in.
struct Authenticated<'p> {
    provider: usize,
    token: VerifiedToken,
    sources: Vec<&'p TokenSource>,
}

type Failure = (DenyReason, Option<usize>);

/// Finds the token, picks the candidate providers whose issuer matches its
/// (unverified) `iss`, and verifies with each until one accepts it.
fn authenticate<'p>(
    policy: &'p Policy,
    candidates: &[usize],
    request: &HttpRequest<'p>,
    now: u64,
) -> Result<Authenticated<'p>, Failure> {
    let (raw, sources) = find_token(policy, candidates, request)?;
    let parsed = jwt::parse(&raw, policy.max_token_bytes).map_err(|e| (DenyReason::Token(e), None))?;
    let mut failure: Option<Failure> = None;
    for &index in candidates {
        let provider = &policy.providers[index];
        if parsed.issuer() != Some(provider.validation.issuer.as_str()) {
            continue;
        }
        let Some(keys) = provider.keys.current() else {
            failure.get_or_insert((DenyReason::KeysUnavailable, Some(index)));
            continue;
        };
        match parsed.verify(&keys, &provider.validation, now) {
            Ok(token) => return Ok(Authenticated { provider: index, token, sources }),
            Err(error) => {
                failure.get_or_insert((DenyReason::Token(error), Some(index)));
            }
        }
    }
    Err(failure.unwrap_or((DenyReason::Token(TokenError::WrongIssuer), None)))
}

/// The one credential of the request across the candidates' token sources,
/// with every source that carries it (all are stripped unless forwarded).
fn find_token<'p>(
    policy: &'p Policy,
    candidates: &[usize],
    request: &HttpRequest<'p>,
) -> Result<(std::borrow::Cow<'p, str>, Vec<&'p TokenSource>), Failure> {
    let mut found: Option<(std::borrow::Cow<'p, str>, Vec<&'p TokenSource>)> = None;
    for &index in candidates {
        match token::extract(&policy.providers[index].token_sources, request) {
            Extraction::Missing => {}
            Extraction::Ambiguous => return Err((DenyReason::MultipleTokens, None)),
            Extraction::Found { token, sources } => match &mut found {
                Some((first, _)) if *first != token => return Err((DenyReason::MultipleTokens, None)),
                Some((_, seen)) => {
                    for source in sources {
                        if !seen.contains(&source) {
                            seen.push(source);
                        }
                    }
                }
                None => found = Some((token, sources)),
            },
        }
    }
    found.ok_or((DenyReason::MissingToken, None))
}

/// Anonymous access: every identity header is stripped so none can be forged.
fn anonymous(policy: &Policy, rule: &Rule) -> Allow {
    Allow {
        rule: rule.label.clone(),
        provider: None,
        set_headers: Vec::new(),
        remove_headers: policy.identity_headers.clone(),
        remove_query_params: Vec::new(),
        token: None,
    }
}

/// Authenticated access: set the provider's identity headers from verified
/// claims, strip every other identity header, and strip the token itself
/// unless the provider forwards it.
fn authenticated(policy: &Policy, rule: &Rule, verified: Authenticated<'_>) -> Allow {
    let provider = &policy.providers[verified.provider];
    let mut set_headers = Vec::with_capacity(provider.claim_headers.len() + 1);
    for (path, header) in &provider.claim_headers {
        if let Some(value) = claim_at(&verified.token.claims, path).and_then(header_value) {
            set_headers.push((header.clone(), value));
        }
    }
    if let Some(header) = &provider.payload_header {
        set_headers.push((header.clone(), verified.token.payload_b64.clone()));
    }
    let is_set = |name: &str| set_headers.iter().any(|(h, _)| &**h == name);
    let mut remove_headers: Vec<Arc<str>> =
        policy.identity_headers.iter().filter(|h| !is_set(h)).cloned().collect();
    let mut remove_query_params = Vec::new();
    if !provider.forward_token {
        for source in verified.sources {
            match source {
                TokenSource::Header { name, .. }
                    if !is_set(name) && !remove_headers.iter().any(|h| **h == **name) =>
                {
                    remove_headers.push(Arc::from(name.as_str()))
                }
                TokenSource::Query(param) => remove_query_params.push(Arc::from(param.as_str())),
                // A cookie shares its header with other cookies; it is left in place.
                _ => {}
            }
        }
    }
    Allow {
        rule: rule.label.clone(),
        provider: Some(provider.name.clone()),
        set_headers,
        remove_headers,
        remove_query_params,
        token: Some(Arc::new(verified.token)),
    }
}

/// Walks a dotted claim path into nested objects.
pub fn claim_at<'c>(claims: &'c serde_json::Map<String, Value>, path: &[String]) -> Option<&'c Value> {
    let (first, rest) = path.split_first()?;
    rest.iter().try_fold(claims.get(first)?, |value, key| value.as_object()?.get(key))
}

/// A claim as a header value: strings as they are, numbers and booleans as
/// JSON text, arrays of scalars comma-joined, objects as compact JSON. A value
/// with control characters is dropped rather than forwarded (header injection).
fn header_value(value: &Value) -> Option<String> {
    let text = match value {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(|v| !v.is_array() && !v.is_object()) => {
            // One unsafe element drops the whole header: never a silently shortened list.
            let parts: Option<Vec<String>> = items.iter().map(header_value).collect();
            parts?.join(",")
        }
        other => other.to_string(),
    };
    let safe = text.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f));
    safe.then_some(text)
}

#[cfg(test)]
mod tests;
