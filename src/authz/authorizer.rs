//! [`Authorizer`]: the asynchronous steps of a decision, each a bounded
//! wait: for a key refresh when a token names an unknown `kid`, and for the
//! introspection call of an opaque token no answer is kept for.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::cache::TokenDigest;
use super::decision::{Decision, Deny, DenyReason};
use super::jwt::TokenError;
use super::policy::ProviderId;
use super::request::HttpRequest;
use super::{evaluate, Policy};
use crate::clock::unix_now;

/// Decides Checks, each on the policy snapshot its caller loaded (a Check in
/// flight finishes on the policy it started with, whatever a reload swaps in).
#[derive(Default)]
pub struct Authorizer {
    /// Checks now waiting on an unknown-`kid` refresh. Lives here, not in the
    /// policy, so that a reload cannot start a second count beside the first
    /// and let twice `max_unknown_kid_waiters` Checks wait.
    unknown_kid_waiters: AtomicUsize,
    /// Checks now waiting on an introspection call (bounded by the same
    /// `max_unknown_kid_waiters`, counted apart: a flood of one kind cannot
    /// take the other's places).
    introspection_waiters: AtomicUsize,
}

impl Authorizer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decides one request on `policy`. The only await is the unknown-`kid`
    /// refresh, which the key source rate-limits and shares between callers;
    /// a Check whose key is cached never waits.
    ///
    /// A Check holds one of `limits.max_concurrent_checks` permits while it
    /// waits, so the wait is bounded twice: at most `max_unknown_kid_waiters`
    /// Checks wait at once (the others are answered at once with the
    /// unknown-`kid` deny), and none waits longer than `unknown_kid_wait`.
    /// A flood of random `kid`s against a slow IdP thus cannot take the
    /// permits that Checks with cached keys need. Only the wait is cut short:
    /// the fetch is a task of its own and runs on for later Checks.
    pub async fn check(&self, policy: &Policy, request: &HttpRequest<'_>) -> Decision {
        let decision = evaluate(policy, request, unix_now());
        if pending_introspection(policy, &decision).is_some() {
            return self.after_introspection(policy, request, decision).await;
        }
        let Some(id) = unknown_kid_provider(policy, &decision) else { return decision };
        // Asked before a waiter slot: this starts (or joins) the shared,
        // rate-limited fetch, so a rotated key still gets loaded when every
        // slot is taken and this Check does not wait.
        let refresh = policy.provider(id).keys.refresh_for_unknown_kid();
        let limits = &policy.limits;
        let Some(_slot) = WaiterSlot::take(&self.unknown_kid_waiters, limits.max_unknown_kid_waiters) else {
            return decision;
        };
        let finished = tokio::time::timeout(limits.unknown_kid_wait, refresh).await.is_ok();
        // Decide again whatever the refresh reports: another Check's fetch may
        // have loaded the key between our evaluation and this call.
        after_wait(evaluate(policy, request, unix_now()), finished)
    }
}

impl Authorizer {
    /// Asks each provider whose answer is missing (a route may name two
    /// introspecting providers), waiting at most the first one's
    /// `introspection.wait` in all, then decides again. As with keys, the
    /// call is started before a waiter slot is sought and runs on past the
    /// wait: a later Check of the same token finds the answer kept.
    async fn after_introspection(
        &self,
        policy: &Policy,
        request: &HttpRequest<'_>,
        mut decision: Decision,
    ) -> Decision {
        let mut deadline = None;
        let mut asked = Vec::new();
        while let Some(id) = pending_introspection(policy, &decision) {
            let provider = policy.provider(id);
            let (Some(introspector), Some(token)) =
                (&provider.introspection, provider_token(provider, request))
            else {
                return decision;
            };
            if asked.contains(&id) {
                return decision;
            }
            asked.push(id);
            let call = introspector.introspect(&token, *TokenDigest::of(&token).bytes());
            let Some(_slot) =
                WaiterSlot::take(&self.introspection_waiters, policy.limits.max_unknown_kid_waiters)
            else {
                return decision;
            };
            let until = *deadline.get_or_insert_with(|| tokio::time::Instant::now() + introspector.wait());
            let _ = tokio::time::timeout_at(until, call).await;
            decision = evaluate(policy, request, unix_now());
        }
        decision
    }
}

/// The provider whose introspection answer is missing, if that is why `decision` denies.
fn pending_introspection(policy: &Policy, decision: &Decision) -> Option<ProviderId> {
    match decision {
        Decision::Deny(Deny {
            reason: DenyReason::IntrospectionUnavailable, provider: Some(name), ..
        }) => policy.provider_named(name).map(|p| p.id),
        _ => None,
    }
}

/// The credential `provider` reads from the request (the one the decision
/// looked at: a request with two different ones was refused before).
fn provider_token(provider: &super::policy::Provider, request: &HttpRequest<'_>) -> Option<String> {
    match super::token::extract(&provider.token_sources, request) {
        super::token::Extraction::Found { token, .. } => Some(token.into_owned()),
        _ => None,
    }
}

/// The provider whose keys lack the token's `kid`, if that is why `decision` denies.
fn unknown_kid_provider(policy: &Policy, decision: &Decision) -> Option<ProviderId> {
    match decision {
        Decision::Deny(Deny {
            reason: DenyReason::Token(TokenError::UnknownKid),
            provider: Some(name),
            ..
        }) => policy.provider_named(name).map(|p| p.id),
        _ => None,
    }
}

/// The answer once the wait is over, given whether the refresh finished.
///
/// A refresh that finished without the key means the IdP does not publish
/// it: 401 `unknown_kid`. A wait that ran out means the fetch is still in
/// flight, and nobody knows yet whether the key exists, so the answer is
/// 503 `keys_unavailable` (retryable) rather than 401 `invalid_token`: a
/// client told its token is invalid may throw away a good token signed with
/// a freshly rotated key and make its user sign in again, while a retry a
/// moment later finds the key loaded. It is still a deny either way, and a
/// forged `kid` gains nothing from the 503 but the news that the IdP is slow.
fn after_wait(decision: Decision, finished: bool) -> Decision {
    match decision {
        Decision::Deny(deny) if !finished && deny.reason == DenyReason::Token(TokenError::UnknownKid) => {
            Decision::Deny(Deny { reason: DenyReason::KeysUnavailable, ..deny })
        }
        other => other,
    }
}

/// One of the `max_unknown_kid_waiters` places to wait. Freed when dropped,
/// which also covers a Check that Envoy cancels mid-wait (tonic drops its
/// future).
struct WaiterSlot<'a>(&'a AtomicUsize);

impl<'a> WaiterSlot<'a> {
    /// A slot if fewer than `cap` are taken; never waits for one.
    fn take(taken: &'a AtomicUsize, cap: usize) -> Option<Self> {
        taken.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < cap).then_some(n + 1)).ok()?;
        Some(Self(taken))
    }
}

impl Drop for WaiterSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests;
