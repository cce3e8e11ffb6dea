//! [`Authorizer`]: the current policy plus the one asynchronous step of a
//! decision (a key refresh when a token names an unknown `kid`).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;

use super::decision::{Decision, Deny, DenyReason};
use super::jwt::TokenError;
use super::request::HttpRequest;
use super::{evaluate, Policy};

/// Holds the live policy; swapping it (config reload) never blocks a Check,
/// and a Check in flight finishes on the policy it started with.
pub struct Authorizer {
    policy: ArcSwap<Policy>,
}

impl Authorizer {
    pub fn new(policy: Policy) -> Self {
        Self { policy: ArcSwap::from_pointee(policy) }
    }

    pub fn policy(&self) -> Arc<Policy> {
        self.policy.load_full()
    }

    pub fn replace(&self, policy: Policy) {
        self.policy.store(Arc::new(policy));
    }

    /// Decides one request. The only await is the rare unknown-`kid` refresh,
    /// which the key source rate-limits and shares between callers; a Check
    /// whose key is cached never waits.
    pub async fn check(&self, request: &HttpRequest<'_>) -> Decision {
        let policy = self.policy.load_full();
        let decision = evaluate(&policy, request, unix_now());
        let Decision::Deny(Deny {
            reason: DenyReason::Token(TokenError::UnknownKid),
            provider: Some(name),
            ..
        }) = &decision
        else {
            return decision;
        };
        let Some(index) = policy.provider_index(name) else { return decision };
        // Decide again whatever the refresh reports: another Check's fetch may
        // have loaded the key between our evaluation and this call.
        policy.providers[index].keys.refresh_for_unknown_kid().await;
        evaluate(&policy, request, unix_now())
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it, which then
/// fails every `exp` check rather than passing one).
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
