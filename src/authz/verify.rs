//! Turning one credential into a verified identity: a JWS checked against
//! the provider's keys, an opaque token against the provider's
//! introspection answers, an API key against the provider's key file. All
//! three read memory only; a missing introspection answer is a deny
//! ([`DenyReason::IntrospectionUnavailable`]) that [`super::Authorizer`]
//! resolves by asking the authorization server and deciding again.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::cache::TokenDigest;
use super::decision::{CacheOutcome, DenyReason};
use super::jwt::{self, Origin, TokenError, UnverifiedToken, VerifiedToken};
use super::policy::{Policy, Provider, ProviderId};
use super::Failure;
use crate::keys::Answer;

/// The verification of this exact token by a candidate, from the cache if
/// it holds one, else made now (and cached).
pub(super) fn cached_or_verified(
    policy: &Policy,
    candidates: &[ProviderId],
    raw: &str,
    now: u64,
) -> Result<(ProviderId, Arc<VerifiedToken>, CacheOutcome), Failure> {
    let opaque = candidates.iter().any(|&id| takes_opaque(policy.provider(id)));
    // The digest keys the token cache and the opaque credentials' lookups;
    // a JWS-only route without a cache never needs it.
    let digest = (policy.token_cache.is_some() || opaque).then(|| TokenDigest::of(raw));
    if let (Some(cache), Some(digest)) = (&policy.token_cache, digest) {
        let found =
            candidates.iter().find_map(|&id| Some((id, cache.get(digest, policy.provider(id), now)?)));
        cache.record_lookup(found.is_some());
        if let Some((id, token)) = found {
            return Ok((id, token, CacheOutcome::Hit));
        }
    }
    let (id, token) = verify_token(policy, candidates, raw, digest, now)?;
    if let (Some(cache), Some(digest)) = (&policy.token_cache, digest) {
        cache.insert(digest, policy.provider(id), token.clone(), now);
    }
    Ok((id, token, CacheOutcome::Miss))
}

fn takes_opaque(provider: &Provider) -> bool {
    provider.introspection.is_some() || provider.api_keys.is_some()
}

/// What one candidate made of the token.
enum Attempt {
    Verified(VerifiedToken),
    Failed(Failure),
    /// Not this provider's token (another issuer).
    NotMine,
}

/// Tries each candidate in order until one accepts the token. The token is
/// parsed as a JWS once, and only if a candidate needs it.
fn verify_token(
    policy: &Policy,
    candidates: &[ProviderId],
    raw: &str,
    digest: Option<TokenDigest>,
    now: u64,
) -> Result<(ProviderId, Arc<VerifiedToken>), Failure> {
    let mut parsed: Option<Result<UnverifiedToken<'_>, TokenError>> = None;
    let mut failure: Option<Failure> = None;
    for &id in candidates {
        let provider = policy.provider(id);
        let attempt = match (&provider.api_keys, digest) {
            (Some(_), Some(digest)) => api_key(provider, digest, now),
            _ => {
                let jws = parsed.get_or_insert_with(|| jwt::parse(raw, policy.limits.max_token_bytes));
                match (jws, digest) {
                    // Not a JWS at all (or a JWE): only introspection can read it.
                    (Err(TokenError::Malformed | TokenError::Encrypted), Some(digest))
                        if provider.introspection.is_some() =>
                    {
                        introspected(provider, digest, now)
                    }
                    // A JWS for a provider without keys: its server may
                    // introspect its own JWTs, never another issuer's.
                    (Ok(token), Some(digest)) if !provider.jws && provider.introspection.is_some() => {
                        match token.issuer() {
                            Some(iss) if iss != provider.validation.issuer => Attempt::NotMine,
                            _ => introspected(provider, digest, now),
                        }
                    }
                    (Ok(token), _) if provider.jws => signed(provider, token, now),
                    (Ok(_), _) => Attempt::NotMine,
                    (Err(error), _) => Attempt::Failed((DenyReason::Token(*error), None)),
                }
            }
        };
        match attempt {
            Attempt::Verified(token) => return Ok((id, finish(policy, policy.provider(id), token))),
            Attempt::Failed(new) => failure = Some(stronger(failure, new)),
            Attempt::NotMine => {}
        }
    }
    Err(failure.unwrap_or((DenyReason::Token(TokenError::WrongIssuer), None)))
}

/// A verification made ready for its Checks (and the cache): the identity
/// headers rendered, then only the claims something still reads kept.
fn finish(policy: &Policy, provider: &Provider, mut token: VerifiedToken) -> Arc<VerifiedToken> {
    token.identity = super::identity::render_identity(policy, provider, &token);
    token.keep_claims(&provider.kept_claims);
    Arc::new(token)
}

/// Which failure the client hears about: a pending introspection first (so
/// the caller asks and decides again), then one a provider reported, then
/// the first.
fn stronger(old: Option<Failure>, new: Failure) -> Failure {
    let rank = |f: &Failure| match f {
        (DenyReason::IntrospectionUnavailable, _) => 2,
        (_, Some(_)) => 1,
        (_, None) => 0,
    };
    match old {
        Some(old) if rank(&old) >= rank(&new) => old,
        _ => new,
    }
}

/// A JWS of this provider's issuer, checked against its keys.
fn signed(provider: &Provider, token: &mut UnverifiedToken<'_>, now: u64) -> Attempt {
    if token.issuer() != Some(provider.validation.issuer.as_str()) {
        return Attempt::NotMine;
    }
    let Some(keys) = provider.keys.current() else {
        return Attempt::Failed((DenyReason::KeysUnavailable, Some(provider.id)));
    };
    match token.verify(&keys, &provider.validation, now) {
        Ok(mut verified) => {
            // Only a provider that forwards the payload keeps a copy of it.
            if provider.payload_header.is_some() {
                verified.payload_b64 = Some(token.payload_b64().into());
            }
            Attempt::Verified(verified)
        }
        Err(error) => Attempt::Failed((DenyReason::Token(error), Some(provider.id))),
    }
}

/// An opaque token, by the provider's introspection answer in memory.
fn introspected(provider: &Provider, digest: TokenDigest, now: u64) -> Attempt {
    let Some(introspection) = &provider.introspection else { return Attempt::NotMine };
    let fail = |reason| Attempt::Failed((reason, Some(provider.id)));
    let (claims, kept_until) = match introspection.cached(digest.bytes()) {
        None => return fail(DenyReason::IntrospectionUnavailable),
        Some((Answer::Inactive, _)) => return fail(DenyReason::Token(TokenError::Inactive)),
        Some((Answer::Active(claims), kept_until)) => (claims, kept_until),
    };
    if let Err(error) = jwt::check_introspected(&claims, &provider.validation, now) {
        return fail(DenyReason::Token(error));
    }
    let mut token = VerifiedToken::new(Origin::Introspection, with_issuer(&claims, provider), 0);
    token.reuse_until = Some(kept_until);
    Attempt::Verified(token)
}

/// An API key, by its digest in the provider's key file.
fn api_key(provider: &Provider, digest: TokenDigest, now: u64) -> Attempt {
    let Some(api_keys) = &provider.api_keys else { return Attempt::NotMine };
    let fail = |error| Attempt::Failed((DenyReason::Token(error), Some(provider.id)));
    let Some(found) = api_keys.current().lookup(digest.bytes()) else {
        return fail(TokenError::UnknownApiKey);
    };
    // An entry may carry an `exp` of its own (a key handed out for a while).
    let skew = provider.validation.clock_skew_secs as f64;
    if found.claims.get("exp").and_then(Value::as_f64).is_some_and(|exp| now as f64 >= exp + skew) {
        return fail(TokenError::Expired);
    }
    let claims = with_issuer(&found.claims, provider);
    Attempt::Verified(VerifiedToken::new(Origin::ApiKey, claims, found.fingerprint))
}

/// The claims with `iss` set to the provider's issuer where the answer or
/// the key file left it out, so rules, headers and metadata read it as for
/// a JWT.
fn with_issuer(claims: &Map<String, Value>, provider: &Provider) -> Map<String, Value> {
    let mut claims = claims.clone();
    claims.entry("iss").or_insert_with(|| Value::from(provider.validation.issuer.as_str()));
    claims
}
