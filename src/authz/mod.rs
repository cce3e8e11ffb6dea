//! The decision core: pure functions from a request and a [`Policy`] to a
//! [`Decision`]. Nothing here does I/O; keys are read through
//! [`KeySource::current`](crate::keys::KeySource::current), which never waits.
//!
//! [`Authorizer`] adds the asynchronous steps: when a token names a key id
//! the provider has not loaded, it asks the key source to refresh once, waits
//! for it a bounded time (`limits.unknown_kid_wait`, `max_unknown_kid_waiters`)
//! and decides again; when an opaque token has no introspection answer in
//! memory, it starts (or joins) the call and waits for it the same way.

mod authorizer;
mod cache;
mod claims;
mod decision;
mod identity;
mod jwt;
mod logout;
mod matcher;
mod policy;
mod request;
mod require;
mod rules;
mod strict_json;
mod token;
mod verify;

use std::borrow::Cow;
use std::sync::Arc;

pub use authorizer::Authorizer;
pub(crate) use cache::{CacheMetrics, CacheSettings};
pub use claims::Claims;
pub use decision::{Allow, CacheOutcome, Decision, Deny, DenyReason};
pub(crate) use identity::ClaimPath;
pub use jwt::{
    check_claims, parse as parse_token, Origin, TokenError, UnverifiedToken, Validation, VerifiedToken,
};
pub(crate) use logout::{verify_logout_token, Logout, MAX_LOGOUT_TOKEN_AGE_SECS};
pub(crate) use matcher::{anchored_regex, HeaderCondition, HeaderTest, Matcher, MatcherParts};
pub use policy::Policy;
pub(crate) use policy::{Limits, MetadataSpec, PolicySpec, ProviderId, ProviderSpec, Routing};
#[cfg(test)]
pub(crate) use request::Headers;
pub use request::HttpRequest;
pub(crate) use require::{ClaimCondition, ClaimTest, Requirement, RequirementParts};
pub(crate) use rules::{Action, Rule};
pub(crate) use token::TokenSource;

use identity::{anonymous, authenticated, Authenticated};
use require::Unmet;
use rules::Selection;
use token::Extraction;

use crate::path::{self as request_path, PathError};

/// Decides one request at time `now` (seconds since the Unix epoch).
pub fn evaluate(policy: &Policy, request: &HttpRequest<'_>, now: u64) -> Decision {
    if exceeds_header_limits(policy, request) {
        return Decision::deny(DenyReason::HeadersTooLarge);
    }
    let routing = &policy.routing;
    let path = match request_path::normalize(request.path, routing.allow_encoded_slashes) {
        Ok(path) => path,
        Err(PathError::EncodedSlash) => return Decision::deny(DenyReason::EncodedSlash),
        Err(_) => return Decision::deny(DenyReason::InvalidPath),
    };
    let rule = match (&routing.cors_preflight, rules::is_cors_preflight(request)) {
        (Some(cors), true) => cors,
        _ => match rules::select(&routing.rules, request, &path) {
            Selection::Rule(rule) => rule,
            Selection::NoMatch => match &routing.fallback {
                Some(rule) => rule,
                None => return Decision::deny(DenyReason::NoMatchingRule),
            },
            Selection::UnknownRule => return Decision::deny(DenyReason::UnknownRule),
        },
    };
    apply(policy, rule, request, now)
}

/// A bound on what one request makes gatehouse look at.
fn exceeds_header_limits(policy: &Policy, request: &HttpRequest<'_>) -> bool {
    request.headers.len() > policy.limits.max_headers
        || request.headers.iter().map(|(name, value)| name.len() + value.len()).sum::<usize>()
            > policy.limits.max_header_bytes
}

/// Runs the matched rule's action.
fn apply(policy: &Policy, rule: &Rule, request: &HttpRequest<'_>, now: u64) -> Decision {
    let deny = |(reason, provider): Failure, scope: Option<Arc<str>>, cache: CacheOutcome| {
        Decision::Deny(Deny {
            reason,
            rule: Some(rule.label.clone()),
            provider: provider.map(|id| policy.provider(id).name.clone()),
            scope,
            cache,
        })
    };
    match &rule.action {
        Action::Anonymous => Decision::Allow(anonymous(policy, rule)),
        Action::Optional { providers } => match authenticate(policy, providers, request, now) {
            Ok(verified) => Decision::Allow(authenticated(policy, rule, verified)),
            Err((DenyReason::MissingToken, _)) => Decision::Allow(anonymous(policy, rule)),
            Err(failure) => deny(failure, None, CacheOutcome::None),
        },
        Action::Require { providers, requirement } => match authenticate(policy, providers, request, now) {
            Ok(verified) => match requirement.check(verified.provider, &verified.token.claims) {
                Ok(()) => Decision::Allow(authenticated(policy, rule, verified)),
                Err(Unmet::Scope(scope)) => deny(
                    (DenyReason::InsufficientScope, Some(verified.provider)),
                    Some(scope),
                    verified.cache,
                ),
                Err(Unmet::Forbidden) => {
                    deny((DenyReason::Forbidden, Some(verified.provider)), None, verified.cache)
                }
            },
            Err(failure) => deny(failure, None, CacheOutcome::None),
        },
    }
}

type Failure = (DenyReason, Option<ProviderId>);

/// Finds the token, verifies it (or finds it verified in the cache), and
/// refuses it if it was revoked since: every authenticated answer, a cache
/// hit included, passes the revocation check before any rule.
fn authenticate<'p>(
    policy: &'p Policy,
    candidates: &[ProviderId],
    request: &HttpRequest<'_>,
    now: u64,
) -> Result<Authenticated<'p>, Failure> {
    let (raw, sources) = find_token(policy, candidates, request)?;
    if raw.len() > policy.limits.max_token_bytes {
        return Err((DenyReason::Token(TokenError::TooLarge), None));
    }
    let (provider, token, cache) = verify::cached_or_verified(policy, candidates, &raw, now)?;
    if let Some(revocations) = &policy.revocations {
        let issuer = &policy.provider(provider).validation.issuer;
        if revocations.current().is_revoked(issuer, &token.ids, now) {
            return Err((DenyReason::Revoked, Some(provider)));
        }
    }
    Ok(Authenticated { provider, token, sources, cache })
}

/// The one credential of the request across the candidates' token sources,
/// with every source that carries it (all are stripped unless forwarded).
fn find_token<'p, 'r>(
    policy: &'p Policy,
    candidates: &[ProviderId],
    request: &HttpRequest<'r>,
) -> Result<(Cow<'r, str>, token::Sources<'p>), Failure> {
    let mut found: Option<(Cow<'r, str>, token::Sources<'p>)> = None;
    for &id in candidates {
        match token::extract(&policy.provider(id).token_sources, request) {
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

#[cfg(test)]
mod tests;
