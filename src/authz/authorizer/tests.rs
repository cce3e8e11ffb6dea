// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
//! The unknown-`kid` wait of [`Authorizer::check`] against a key source the
//! test controls: what a finished, a failed and a timed-out refresh answer,
//! the cap on waiters, and that a cancelled or finished wait frees its slot.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use super::*;
use crate::alg::Algorithm;
use crate::authz::tests::{sign, ISS_A, SECRET_A};
use crate::keys::{BoxFuture, KeySet, KeySource, VerifyingKey};

/// What a refresh of [`Controlled`] does.
#[derive(Clone, Copy)]
enum Refresh {
    /// Never resolves: a hung IdP.
    Hang,
    /// Resolves at once with nothing new: the IdP does not publish the key.
    NotFound,
    /// Publishes the token's key after this long.
    Publishes(Duration),
}

/// A remote-like key source: publishes key `k0` until a refresh adds `k1`
/// (the `kid` of every test token).
struct Controlled {
    keys: Mutex<Arc<KeySet>>,
    refresh: Refresh,
    refreshes: AtomicUsize,
}

fn hmac_key(kid: &str) -> VerifyingKey {
    VerifyingKey::hmac(Some(kid.into()), SECRET_A, &[Algorithm::HS256]).unwrap()
}

impl Controlled {
    fn new(refresh: Refresh) -> Arc<Self> {
        let keys = Mutex::new(Arc::new(KeySet::new(vec![hmac_key("k0")])));
        Arc::new(Self { keys, refresh, refreshes: AtomicUsize::new(0) })
    }
}

impl KeySource for Controlled {
    fn current(&self) -> Option<Arc<KeySet>> {
        Some(self.keys.lock().unwrap().clone())
    }

    fn refresh_for_unknown_kid(&self) -> BoxFuture<'_, bool> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        match self.refresh {
            Refresh::Hang => Box::pin(std::future::pending()),
            Refresh::NotFound => Box::pin(std::future::ready(false)),
            Refresh::Publishes(after) => Box::pin(async move {
                tokio::time::sleep(after).await;
                *self.keys.lock().unwrap() = Arc::new(KeySet::new(vec![hmac_key("k0"), hmac_key("k1")]));
                true
            }),
        }
    }

    fn kind(&self) -> &'static str {
        "remote"
    }
}

fn policy(source: &Arc<Controlled>, limits: &str) -> Policy {
    let yaml = format!(
        r#"
providers:
  - name: a
    issuer: {ISS_A}
    audiences: [api]
    algorithms: [HS256]
    hmac_secret: {{ env: GATEHOUSE_TEST_SECRET_A }}
rules:
  - name: api
    match: {{ path_prefix: /api }}
    require: {{ providers: [a] }}
limits: {limits}
"#
    );
    crate::config::test_policy(&yaml, vec![source.clone() as Arc<dyn KeySource>])
}

/// The authorizer under test and the policy in force, which a test may swap
/// as a reload would.
struct Subject {
    authorizer: Authorizer,
    policy: arc_swap::ArcSwap<Policy>,
}

impl Subject {
    fn replace(&self, policy: Policy) {
        self.policy.store(Arc::new(policy));
    }
}

fn authorizer(refresh: Refresh, limits: &str) -> (Arc<Subject>, Arc<Controlled>) {
    let source = Controlled::new(refresh);
    let policy = arc_swap::ArcSwap::from_pointee(policy(&source, limits));
    (Arc::new(Subject { authorizer: Authorizer::new(), policy }), source)
}

/// `Authorization: Bearer` with a token signed by `k1`, valid right now.
fn bearer() -> String {
    let now = unix_now();
    format!(
        "Bearer {}",
        sign(SECRET_A, &json!({ "iss": ISS_A, "aud": "api", "sub": "alice", "exp": now + 300 }))
    )
}

/// Decides `GET /api` with the `k1` token; returns the decision and how long it took.
async fn check(subject: Arc<Subject>) -> (Decision, Duration) {
    let auth = bearer();
    let request = HttpRequest {
        method: "GET",
        host: "service.example",
        path: "/api",
        headers: crate::authz::Headers::from_vec(vec![("authorization", auth.as_bytes())]),
        context_extensions: None,
    };
    let started = Instant::now();
    // A guard, so that a wait that is not bounded fails the test instead of hanging it.
    let policy = subject.policy.load_full();
    let answer =
        tokio::time::timeout(Duration::from_secs(20), subject.authorizer.check(&policy, &request)).await;
    let decision = answer.expect("the Check never answered");
    (decision, started.elapsed())
}

#[track_caller]
fn deny_reason(decision: &Decision) -> DenyReason {
    match decision {
        Decision::Deny(deny) => {
            assert_eq!(deny.provider.as_deref(), Some("a"), "{deny:?}");
            assert_eq!(deny.rule.as_deref(), Some("api"), "{deny:?}");
            deny.reason
        }
        Decision::Allow(allow) => panic!("expected a deny, got {allow:?}"),
    }
}

const UNKNOWN_KID: DenyReason = DenyReason::Token(TokenError::UnknownKid);

/// Polls until `n` Checks wait on a refresh.
async fn wait_for_waiters(subject: &Subject, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while subject.authorizer.unknown_kid_waiters.load(Ordering::SeqCst) != n {
        assert!(Instant::now() < deadline, "never {n} waiters");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_key_the_refresh_loads_is_allowed() {
    let (authorizer, source) =
        authorizer(Refresh::Publishes(Duration::from_millis(20)), "{ unknown_kid_wait: 5s }");
    let (decision, _) = check(authorizer.clone()).await;
    assert!(matches!(decision, Decision::Allow(_)), "{decision:?}");
    assert_eq!(source.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(authorizer.authorizer.unknown_kid_waiters.load(Ordering::SeqCst), 0, "the slot is freed");
}

#[tokio::test]
async fn a_refresh_without_the_key_answers_unknown_kid() {
    let (authorizer, _) = authorizer(Refresh::NotFound, "{ unknown_kid_wait: 5s }");
    let (decision, took) = check(authorizer).await;
    assert_eq!(deny_reason(&decision), UNKNOWN_KID);
    assert!(took < Duration::from_secs(2), "a finished refresh must not wait out the bound: {took:?}");
}

#[tokio::test]
async fn a_wait_that_runs_out_answers_keys_unavailable() {
    let (authorizer, _) = authorizer(Refresh::Hang, "{ unknown_kid_wait: 100ms }");
    let (decision, took) = check(authorizer.clone()).await;
    // The fetch may still load the key: retry later, rather than "your token is invalid".
    assert_eq!(deny_reason(&decision), DenyReason::KeysUnavailable);
    assert_eq!(decision_status(&decision), 503);
    assert!(took >= Duration::from_millis(100), "answered before the wait ran out: {took:?}");
    assert!(took < Duration::from_secs(2), "the wait is bounded by unknown_kid_wait: {took:?}");
    assert_eq!(authorizer.authorizer.unknown_kid_waiters.load(Ordering::SeqCst), 0, "the slot is freed");
}

fn decision_status(decision: &Decision) -> u16 {
    match decision {
        Decision::Deny(deny) => deny.reason.http_status(),
        Decision::Allow(_) => 200,
    }
}

#[tokio::test]
async fn beyond_the_cap_a_check_is_answered_at_once_and_a_reload_moves_the_cap() {
    let limits = "{ unknown_kid_wait: 3s, max_unknown_kid_waiters: 2 }";
    let (authorizer, source) = authorizer(Refresh::Hang, limits);
    let waiting: Vec<_> = (0..2).map(|_| tokio::spawn(check(authorizer.clone()))).collect();
    wait_for_waiters(&authorizer, 2).await;

    let (decision, took) = check(authorizer.clone()).await;
    assert_eq!(deny_reason(&decision), UNKNOWN_KID);
    assert!(took < Duration::from_secs(1), "beyond the cap a Check must not wait: {took:?}");
    assert_eq!(source.refreshes.load(Ordering::SeqCst), 3, "it still asked for the refresh");

    // The reloaded policy's cap applies to the same count.
    authorizer.replace(policy(&source, "{ unknown_kid_wait: 3s, max_unknown_kid_waiters: 3 }"));
    let third = tokio::spawn(check(authorizer.clone()));
    wait_for_waiters(&authorizer, 3).await;
    authorizer.replace(policy(&source, "{ unknown_kid_wait: 3s, max_unknown_kid_waiters: 1 }"));
    let (decision, _) = check(authorizer.clone()).await;
    assert_eq!(deny_reason(&decision), UNKNOWN_KID, "3 wait, the new cap is 1");

    for task in waiting.into_iter().chain([third]) {
        let (decision, took) = task.await.unwrap();
        assert_eq!(deny_reason(&decision), DenyReason::KeysUnavailable);
        assert!(took < Duration::from_secs(6), "{took:?}");
    }
    assert_eq!(authorizer.authorizer.unknown_kid_waiters.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_cancelled_check_frees_its_slot() {
    let (authorizer, _) = authorizer(Refresh::Hang, "{ unknown_kid_wait: 10s, max_unknown_kid_waiters: 1 }");
    // Envoy gives up on the Check: tonic drops its future mid-wait.
    let cut = tokio::time::timeout(Duration::from_millis(50), check(authorizer.clone())).await;
    assert!(cut.is_err(), "the Check should still have been waiting: {cut:?}");
    assert_eq!(authorizer.authorizer.unknown_kid_waiters.load(Ordering::SeqCst), 0);
    let next = tokio::spawn(check(authorizer.clone()));
    wait_for_waiters(&authorizer, 1).await;
    next.abort();
}

#[tokio::test]
async fn without_waiter_slots_a_check_never_waits() {
    // max_concurrent_checks 1 leaves the default no slot to give (1 / 2 = 0).
    let (authorizer, source) = authorizer(Refresh::Hang, "{ max_concurrent_checks: 1 }");
    assert_eq!(authorizer.policy.load().limits.max_unknown_kid_waiters, 0);
    let (decision, took) = check(authorizer).await;
    assert_eq!(deny_reason(&decision), UNKNOWN_KID);
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(source.refreshes.load(Ordering::SeqCst), 1, "the refresh is still asked for");
}

#[test]
fn waiter_slots_are_bounded_and_freed_on_drop() {
    let taken = AtomicUsize::new(0);
    let first = WaiterSlot::take(&taken, 2).expect("first slot");
    let second = WaiterSlot::take(&taken, 2).expect("second slot");
    assert!(WaiterSlot::take(&taken, 2).is_none(), "the cap is 2");
    assert!(WaiterSlot::take(&taken, 0).is_none(), "a cap of 0 never gives a slot");
    drop(first);
    assert_eq!(taken.load(Ordering::SeqCst), 1);
    let third = WaiterSlot::take(&taken, 2).expect("a freed slot is given again");
    drop((second, third));
    assert_eq!(taken.load(Ordering::SeqCst), 0);
}

#[test]
fn only_an_unfinished_wait_turns_unknown_kid_into_keys_unavailable() {
    let deny = Decision::deny;
    let reason = |d: Decision| match d {
        Decision::Deny(deny) => deny.reason,
        Decision::Allow(_) => unreachable!(),
    };
    assert_eq!(reason(after_wait(deny(UNKNOWN_KID), false)), DenyReason::KeysUnavailable);
    assert_eq!(reason(after_wait(deny(UNKNOWN_KID), true)), UNKNOWN_KID);
    let expired = DenyReason::Token(TokenError::Expired);
    assert_eq!(reason(after_wait(deny(expired), false)), expired, "other denies stay as they are");
}
