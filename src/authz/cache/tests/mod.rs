// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
//! The verified-token cache, driven through [`evaluate`] with HS256 tokens
//! signed here and a key source whose key set the test swaps at will.
//!
//! The cache must be invisible except for speed: a hit never allows what a
//! fresh verification would deny. Hits are proven by identity: a hit returns
//! the very `Arc<VerifiedToken>` stored on the first verification, a miss
//! builds a new one.
//!
//! Tokens are minted against the real clock (`unix_now`), because an entry's
//! lifetime is computed against the wall clock when it is inserted.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::alg::Algorithm;
use crate::authz::jwt::{TokenError, VerifiedToken};
use crate::authz::{evaluate, Allow, Decision, Deny, DenyReason, HttpRequest, Policy};
use crate::clock::unix_now;
use crate::keys::{KeySet, KeySource, VerifyingKey};

const ISS_A: &str = "https://a.example";
const ISS_B: &str = "https://b.example";
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-the-signing-secret";
const OTHER_SECRET: &[u8] = b"fedcba9876543210fedcba9876543210-another-secret!!";

// ---------------------------------------------------------------------------
// A key source whose key set can be swapped
// ---------------------------------------------------------------------------

/// The provider's keys as the test decides: `None` is "no keys loaded".
struct SwapKeys(Mutex<Option<Arc<KeySet>>>);

impl SwapKeys {
    fn new(set: KeySet) -> Arc<Self> {
        Arc::new(Self(Mutex::new(Some(Arc::new(set)))))
    }

    fn set(&self, set: Option<KeySet>) {
        *self.0.lock().unwrap() = set.map(Arc::new);
    }
}

impl KeySource for SwapKeys {
    fn current(&self) -> Option<Arc<KeySet>> {
        self.0.lock().unwrap().clone()
    }

    fn kind(&self) -> &'static str {
        "remote"
    }
}

/// An HS256 key; built afresh on every call, so that a "same key" in a new
/// set is equal in material and kid only, never the same object.
fn hs256(kid: &str, secret: &[u8]) -> VerifyingKey {
    VerifyingKey::hmac(Some(kid.into()), secret, &[Algorithm::HS256]).expect("hmac key")
}

fn set(keys: Vec<VerifyingKey>) -> KeySet {
    KeySet::new(keys)
}

/// The signing key `k1` alone.
fn signing_set() -> KeySet {
    set(vec![hs256("k1", SECRET)])
}

// ---------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------

use crate::dev::testing::hs256 as sign;

/// Valid claims for `issuer` now, expiring in 5 minutes, with `extra` merged
/// over them.
fn claims(issuer: &str, extra: Value) -> Value {
    crate::dev::testing::claims(issuer, unix_now(), extra)
}

/// A token of provider `a` signed by `k1`.
fn token(extra: Value) -> String {
    sign("k1", SECRET, &claims(ISS_A, extra))
}

// ---------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------

/// One provider `a` (issuer `ISS_A`, `clock_skew: {skew}`), `/read` needing
/// a token of `a`, `/admin` needing scope `admin` too; `cache: {cache}`.
fn yaml(skew: &str, cache: &str, extra_provider: &str) -> String {
    format!(
        r#"
providers:
  - name: a
    issuer: {ISS_A}
    audiences: [api]
    algorithms: [HS256]
    clock_skew: {skew}
    hmac_secret: {{ env: GATEHOUSE_TEST_CACHE_SECRET }}
    claims_to_headers:
      - {{ claim: sub, header: x-user-id }}
{extra_provider}
rules:
  - name: read
    match: {{ path_prefix: /read }}
    require: {{ providers: [a] }}
  - name: admin
    match: {{ path_prefix: /admin }}
    require: {{ providers: [a], scopes_all: [admin] }}
cache: {cache}
limits: {{ max_token_bytes: 65536 }}
"#
    )
}

fn compile(yaml: &str, keys: Vec<Arc<dyn KeySource>>) -> Policy {
    crate::config::test_policy(yaml, keys)
}

/// Provider `a` whose keys the returned [`SwapKeys`] controls.
fn swappable(skew: &str, cache: &str) -> (Policy, Arc<SwapKeys>) {
    let keys = SwapKeys::new(signing_set());
    let policy = compile(&yaml(skew, cache, ""), vec![keys.clone()]);
    (policy, keys)
}

fn cached_policy() -> (Policy, Arc<SwapKeys>) {
    swappable("60s", "{}")
}

fn entries(policy: &Policy) -> u64 {
    policy.token_cache.as_ref().expect("cache enabled").len()
}

fn weight(policy: &Policy) -> u64 {
    let cache = policy.token_cache.as_ref().expect("cache enabled");
    cache.entries.run_pending_tasks();
    cache.entries.weighted_size()
}

// ---------------------------------------------------------------------------
// Requests and decisions
// ---------------------------------------------------------------------------

fn decide_at(policy: &Policy, path: &str, token: &str, now: u64) -> Decision {
    let auth = format!("Bearer {token}");
    let request = HttpRequest {
        method: "GET",
        host: "service.example",
        path,
        headers: crate::authz::Headers::from_vec(vec![("authorization", auth.as_bytes())]),
        context_extensions: None,
    };
    evaluate(policy, &request, now)
}

fn decide(policy: &Policy, path: &str, token: &str) -> Decision {
    decide_at(policy, path, token, unix_now())
}

#[track_caller]
fn allow(case: &str, decision: Decision) -> Allow {
    match decision {
        Decision::Allow(allow) => {
            assert!(allow.token.is_some(), "[{case}] an authenticated allow carries its token");
            allow
        }
        Decision::Deny(deny) => panic!("[{case}] expected allow, got deny {deny:?}"),
    }
}

#[track_caller]
fn deny(case: &str, decision: Decision) -> Deny {
    match decision {
        Decision::Deny(deny) => deny,
        Decision::Allow(allow) => panic!("[{case}] expected deny, got allow {allow:#?}"),
    }
}

/// The verified token an allow was decided with.
fn verified(allow: &Allow) -> Arc<VerifiedToken> {
    allow.token.clone().expect("authenticated allow")
}

fn user(allow: &Allow) -> Option<&str> {
    allow.set_headers.iter().find(|(n, _)| &**n == "x-user-id").map(|(_, v)| &**v)
}

/// Allowed, and served from the cache: the very token object stored before.
#[track_caller]
fn assert_hit(case: &str, decision: Decision, stored: &Arc<VerifiedToken>) {
    let allow = allow(case, decision);
    assert!(
        Arc::ptr_eq(&verified(&allow), stored),
        "[{case}] expected a cache hit, got a fresh verification"
    );
}

/// Allowed after a fresh verification (not the object stored before).
#[track_caller]
fn assert_fresh(case: &str, decision: Decision, before: &Arc<VerifiedToken>) -> Arc<VerifiedToken> {
    let allow = allow(case, decision);
    let token = verified(&allow);
    assert!(!Arc::ptr_eq(&token, before), "[{case}] expected a fresh verification, got a cache hit");
    token
}

fn wall_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// Sleeps until the wall clock is past `unix` seconds by `margin`.
fn sleep_past(unix: u64, margin: Duration) {
    let target = unix as f64 + margin.as_secs_f64();
    let now = wall_seconds();
    if target > now {
        std::thread::sleep(Duration::from_secs_f64(target - now));
    }
}

mod capacity;
mod invalidation;
mod isolation;
mod lifetime;
