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

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::authz::jwt::{TokenError, VerifiedToken};
use crate::authz::{evaluate, unix_now, Allow, Decision, Deny, DenyReason, HttpRequest, Policy};
use crate::config::from_yaml;
use crate::keys::{Algorithm, KeySet, KeySource, VerifyingKey};

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

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A compact HS256 JWS with header `kid`.
fn sign(kid: &str, secret: &[u8], claims: &Value) -> String {
    let header = json!({ "alg": "HS256", "typ": "JWT", "kid": kid }).to_string();
    let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.to_string().as_bytes()));
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

/// Valid claims for `issuer`, expiring in 5 minutes, with `extra` merged
/// over them (`null` removes a claim).
fn claims(issuer: &str, extra: Value) -> Value {
    let mut base = json!({ "iss": issuer, "aud": "api", "sub": "alice", "exp": unix_now() + 300 });
    let map = base.as_object_mut().unwrap();
    for (key, value) in extra.as_object().expect("extra claims must be an object") {
        if value.is_null() {
            map.remove(key);
        } else {
            map.insert(key.clone(), value.clone());
        }
    }
    base
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
    let config = from_yaml(yaml).unwrap_or_else(|e| panic!("test config does not load:\n{e}\n---\n{yaml}"));
    Policy::compile(&config, keys).expect("test rules compile")
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
        headers: vec![("authorization", auth.as_bytes())],
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
    allow.set_headers.iter().find(|(n, _)| &**n == "x-user-id").map(|(_, v)| v.as_str())
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

// ---------------------------------------------------------------------------
// Hits, and invalidation when the signing key leaves the key set
// ---------------------------------------------------------------------------

#[test]
fn a_repeated_token_is_a_hit_until_its_key_is_rotated_out() {
    let (policy, keys) = cached_policy();
    let valid = token(json!({}));

    let first = verified(&allow("first use", decide(&policy, "/read", &valid)));
    assert_eq!(entries(&policy), 1);
    for i in 0..50 {
        assert_hit(&format!("use #{i}"), decide(&policy, "/read", &valid), &first);
    }
    assert_eq!(entries(&policy), 1, "one token, one entry, however often it is used");

    // A refresh that keeps the signing key (rebuilt from the same material)
    // and adds another: the entry stays good.
    keys.set(Some(set(vec![hs256("k2", OTHER_SECRET), hs256("k1", SECRET)])));
    assert_hit("key added", decide(&policy, "/read", &valid), &first);

    // The signing key is rotated out: the cached token is refused, exactly as
    // a fresh verification refuses it, and the entry is gone.
    keys.set(Some(set(vec![hs256("k2", OTHER_SECRET)])));
    let refused = deny("key rotated out", decide(&policy, "/read", &valid));
    assert_eq!(refused.reason, DenyReason::Token(TokenError::UnknownKid));
    assert_eq!(refused.reason.http_status(), 401);
    assert_eq!(refused.provider.as_deref(), Some("a"));
    assert_eq!(entries(&policy), 0, "the entry of a rotated-out key is dropped on use");
    for i in 0..5 {
        deny(&format!("still rotated out #{i}"), decide(&policy, "/read", &valid));
    }

    // Published again: verified afresh and cached again.
    keys.set(Some(signing_set()));
    let again = assert_fresh("key back", decide(&policy, "/read", &valid), &first);
    assert_hit("key back, second use", decide(&policy, "/read", &valid), &again);
    assert_eq!(entries(&policy), 1);
}

#[test]
fn a_kid_reused_with_new_material_drops_the_entry() {
    let (policy, keys) = cached_policy();
    let valid = token(json!({}));
    let first = verified(&allow("first use", decide(&policy, "/read", &valid)));
    assert_hit("second use", decide(&policy, "/read", &valid), &first);

    // Same kid, different secret: not the key that verified the token.
    keys.set(Some(set(vec![hs256("k1", OTHER_SECRET)])));
    let refused = deny("kid reused", decide(&policy, "/read", &valid));
    assert_eq!(refused.reason, DenyReason::Token(TokenError::BadSignature));
    assert_eq!(entries(&policy), 0);
}

#[test]
fn a_key_set_without_a_kid_still_serves_a_token_that_names_one() {
    // A key without `kid` (what `hmac_secret` builds) verifies tokens whose
    // header names a kid: the fingerprint covers the kid the *key* has.
    let unnamed = || VerifyingKey::hmac(None, SECRET, &[Algorithm::HS256]).unwrap();
    let keys = SwapKeys::new(set(vec![unnamed()]));
    let policy = compile(&yaml("60s", "{}", ""), vec![keys.clone()]);
    let valid = token(json!({}));
    let first = verified(&allow("first", decide(&policy, "/read", &valid)));
    assert_hit("second", decide(&policy, "/read", &valid), &first);

    // Publishing the same material under a kid is a different key.
    keys.set(Some(set(vec![hs256("other", SECRET)])));
    deny("same material, now with a kid", decide(&policy, "/read", &valid));
    assert_eq!(entries(&policy), 0);
}

#[test]
fn keys_unavailable_is_never_answered_from_the_cache() {
    let (policy, keys) = cached_policy();
    let valid = token(json!({}));
    allow("first use", decide(&policy, "/read", &valid));

    keys.set(None);
    let refused = deny("no keys loaded", decide(&policy, "/read", &valid));
    assert_eq!(refused.reason, DenyReason::KeysUnavailable);
    assert_eq!(refused.reason.http_status(), 503);

    keys.set(Some(signing_set()));
    allow("keys back", decide(&policy, "/read", &valid));
}

/// A key re-published with a narrower algorithm list (a JWKS entry whose
/// `alg` changes, same material and kid) no longer verifies the token's
/// algorithm: a fresh verification refuses the token, so the cache must too.
#[test]
fn a_key_republished_for_another_algorithm_drops_the_entry() {
    let (policy, keys) = cached_policy();
    let valid = token(json!({}));
    let first = verified(&allow("first use", decide(&policy, "/read", &valid)));
    assert_hit("second use", decide(&policy, "/read", &valid), &first);

    let hs384_only = VerifyingKey::hmac(Some("k1".into()), SECRET, &[Algorithm::HS384]).unwrap();
    keys.set(Some(set(vec![hs384_only])));
    // What a cache-less gatehouse answers with this key set:
    let uncached = compile(&yaml("60s", "{ enabled: false }", ""), vec![keys.clone()]);
    let fresh = deny("fresh verification", decide(&uncached, "/read", &valid));
    assert_eq!(fresh.reason, DenyReason::Token(TokenError::NoMatchingKey));
    // The cached policy must agree.
    let cached = deny("cached token, key no longer serves HS256", decide(&policy, "/read", &valid));
    assert_eq!(cached.reason, DenyReason::Token(TokenError::NoMatchingKey));
    assert_eq!(entries(&policy), 0);
}

#[test]
fn concurrent_uses_of_one_token_make_one_entry() {
    let (policy, _keys) = cached_policy();
    let valid = token(json!({}));
    std::thread::scope(|scope| {
        for t in 0..8 {
            let (policy, valid) = (&policy, &valid);
            scope.spawn(move || {
                for i in 0..100 {
                    allow(&format!("thread {t} use {i}"), decide(policy, "/read", valid));
                }
            });
        }
    });
    assert_eq!(entries(&policy), 1);
}

// ---------------------------------------------------------------------------
// Lifetime: exp, clock skew, max_ttl
// ---------------------------------------------------------------------------

#[test]
fn an_expired_token_is_never_served_from_the_cache() {
    let (policy, _keys) = swappable("0s", "{}");
    let now = unix_now();
    let exp = now + 2;
    let short = token(json!({ "exp": exp }));
    let first = verified(&allow("fresh", decide_at(&policy, "/read", &short, now)));
    assert_eq!(entries(&policy), 1, "a token valid for two more seconds is cached");
    assert_hit("one second before exp", decide_at(&policy, "/read", &short, exp - 1), &first);

    // At exp (clock skew 0) the token is expired: refused, and the entry dropped.
    for at in [exp, exp + 1, exp + 3600] {
        let refused = deny(&format!("at exp + {}", at - exp), decide_at(&policy, "/read", &short, at));
        assert_eq!(refused.reason, DenyReason::Token(TokenError::Expired));
    }
    assert_eq!(entries(&policy), 0);
}

#[test]
fn an_entry_leaves_the_cache_when_its_token_expires() {
    let (policy, _keys) = swappable("0s", "{}");
    let exp = unix_now() + 2;
    let short = token(json!({ "exp": exp }));
    let long = token(json!({ "sub": "bob" }));
    allow("short", decide(&policy, "/read", &short));
    allow("long", decide(&policy, "/read", &long));
    assert_eq!(entries(&policy), 2);

    sleep_past(exp, Duration::from_millis(300));
    assert_eq!(entries(&policy), 1, "the expired token's entry is evicted without being used");
    deny("expired", decide(&policy, "/read", &short));
    assert_eq!(entries(&policy), 1, "an expired token is not cached again");
}

#[test]
fn a_token_expiring_within_the_clock_skew_is_not_cached() {
    let (policy, _keys) = swappable("60s", "{}");
    let now = unix_now();
    for (case, exp) in
        [("exp in 30s", now + 30), ("exp exactly now + skew", now + 60), ("exp 10s ago", now - 10)]
    {
        let inside_skew = token(json!({ "exp": exp }));
        // Accepted (within the leeway), every time, and never cached.
        let first = verified(&allow(case, decide_at(&policy, "/read", &inside_skew, now)));
        let second = assert_fresh(case, decide_at(&policy, "/read", &inside_skew, now), &first);
        assert_fresh(case, decide_at(&policy, "/read", &inside_skew, now), &second);
        assert_eq!(entries(&policy), 0, "[{case}] cached");
    }

    // Just beyond the skew: cached, and served until exp - skew only.
    let exp = now + 62;
    let outside = token(json!({ "exp": exp }));
    let first = verified(&allow("exp in 62s", decide_at(&policy, "/read", &outside, now)));
    assert_eq!(entries(&policy), 1);
    assert_hit("before exp - skew", decide_at(&policy, "/read", &outside, exp - 61), &first);
    // From exp - skew on, the entry is refused and the token verified afresh
    // (still accepted: the skew is the leeway of a fresh verification).
    assert_fresh("at exp - skew", decide_at(&policy, "/read", &outside, exp - 60), &first);
}

#[test]
fn max_ttl_bounds_entries_with_and_without_exp() {
    let extra = "    require_expiration: false";
    let keys = SwapKeys::new(signing_set());
    let policy = compile(&yaml("60s", "{ max_ttl: 1s }", extra), vec![keys.clone()]);
    let now = unix_now();
    let no_exp = token(json!({ "exp": null }));
    let far_exp = token(json!({ "exp": now + 86_400 }));
    let first_no_exp = verified(&allow("no exp", decide(&policy, "/read", &no_exp)));
    let first_far = verified(&allow("far exp", decide(&policy, "/read", &far_exp)));
    assert_eq!(entries(&policy), 2);
    assert_hit("no exp, hit", decide(&policy, "/read", &no_exp), &first_no_exp);

    // Past max_ttl for a request clock: refused from the cache, verified afresh.
    assert_fresh("no exp, after max_ttl", decide_at(&policy, "/read", &no_exp, now + 3), &first_no_exp);

    // And for the wall clock: both entries are evicted.
    sleep_past(now + 2, Duration::from_millis(300));
    let count = entries(&policy);
    assert!(count <= 1, "entries outlived max_ttl: {count}");
    assert_fresh("far exp, after max_ttl", decide(&policy, "/read", &far_exp), &first_far);
}

// ---------------------------------------------------------------------------
// Only successes are cached
// ---------------------------------------------------------------------------

#[test]
fn refused_tokens_are_never_cached() {
    let (policy, _keys) = cached_policy();
    for i in 0..1000 {
        let forged = sign("k1", OTHER_SECRET, &claims(ISS_A, json!({ "jti": format!("forged-{i}") })));
        let refused = deny(&format!("forged #{i}"), decide(&policy, "/read", &forged));
        assert_eq!(refused.reason, DenyReason::Token(TokenError::BadSignature), "forged #{i}");
    }
    assert_eq!(entries(&policy), 0, "bad signatures filled the cache");

    // Well signed, but refused on a claim or by the provider choice.
    let refused_claims: &[(&str, Value, DenyReason)] = &[
        ("wrong audience", json!({ "aud": "other" }), DenyReason::Token(TokenError::WrongAudience)),
        ("expired", json!({ "exp": unix_now() - 3600 }), DenyReason::Token(TokenError::Expired)),
        ("not yet valid", json!({ "nbf": unix_now() + 3600 }), DenyReason::Token(TokenError::NotYetValid)),
        ("wrong issuer", json!({ "iss": ISS_B }), DenyReason::Token(TokenError::WrongIssuer)),
    ];
    for (case, extra, reason) in refused_claims {
        let refused_token = token(extra.clone());
        for _ in 0..3 {
            assert_eq!(deny(case, decide(&policy, "/read", &refused_token)).reason, *reason, "[{case}]");
        }
    }
    assert_eq!(entries(&policy), 0, "refused tokens were cached");

    // A good token is still cached and hit.
    let valid = token(json!({}));
    let first = verified(&allow("valid", decide(&policy, "/read", &valid)));
    assert_hit("valid again", decide(&policy, "/read", &valid), &first);
    assert_eq!(entries(&policy), 1);
}

// ---------------------------------------------------------------------------
// Rules still run on a hit
// ---------------------------------------------------------------------------

#[test]
fn requirements_run_on_every_request_even_on_a_hit() {
    let (policy, _keys) = cached_policy();
    let reader = token(json!({ "scope": "read" }));
    let first = verified(&allow("reader on /read", decide(&policy, "/read", &reader)));
    for round in 0..3 {
        let refused = deny(&format!("reader on /admin #{round}"), decide(&policy, "/admin", &reader));
        assert_eq!(refused.reason, DenyReason::InsufficientScope);
        assert_eq!(refused.reason.http_status(), 403);
        assert_eq!(refused.scope.as_deref(), Some("admin"));
        assert_eq!(refused.rule.as_deref(), Some("admin"));
        let allowed = allow(&format!("reader on /read #{round}"), decide(&policy, "/read", &reader));
        assert!(Arc::ptr_eq(&verified(&allowed), &first), "a hit");
        assert_eq!(allowed.rule.as_ref(), "read");
        assert_eq!(user(&allowed), Some("alice"), "identity headers are set on a hit");
    }

    let admin = token(json!({ "scope": "read admin", "sub": "root" }));
    let first_admin = verified(&allow("admin on /admin", decide(&policy, "/admin", &admin)));
    let again = allow("admin on /admin, hit", decide(&policy, "/admin", &admin));
    assert!(Arc::ptr_eq(&verified(&again), &first_admin));
    assert_eq!(user(&again), Some("root"));
    assert_eq!(entries(&policy), 2);
}

// ---------------------------------------------------------------------------
// Providers are isolated
// ---------------------------------------------------------------------------

#[test]
fn a_token_cached_for_one_provider_is_not_a_hit_for_another() {
    // `b` trusts the same key but another issuer; `c` the same issuer and key
    // but another audience.
    let providers = format!(
        r#"  - name: b
    issuer: {ISS_B}
    audiences: [api]
    algorithms: [HS256]
    hmac_secret: {{ env: GATEHOUSE_TEST_CACHE_SECRET }}
  - name: c
    issuer: {ISS_A}
    audiences: [other-api]
    algorithms: [HS256]
    hmac_secret: {{ env: GATEHOUSE_TEST_CACHE_SECRET }}"#
    );
    let yaml = yaml("60s", "{}", &providers).replace(
        "rules:\n",
        "rules:\n  - { name: only-b, match: { path_prefix: /b }, require: { providers: [b] } }\n  \
         - { name: only-c, match: { path_prefix: /c }, require: { providers: [c] } }\n  \
         - { name: a-or-c, match: { path_prefix: /either }, require: { providers: [c, a] } }\n",
    );
    let keys: Vec<Arc<dyn KeySource>> =
        vec![SwapKeys::new(signing_set()), SwapKeys::new(signing_set()), SwapKeys::new(signing_set())];
    let policy = compile(&yaml, keys);
    let valid = token(json!({}));

    let first = verified(&allow("cached for a", decide(&policy, "/read", &valid)));
    assert_eq!(entries(&policy), 1);
    for round in 0..3 {
        let refused = deny(&format!("b, other issuer #{round}"), decide(&policy, "/b", &valid));
        assert_eq!(refused.reason, DenyReason::Token(TokenError::WrongIssuer));
        let refused = deny(&format!("c, other audience #{round}"), decide(&policy, "/c", &valid));
        assert_eq!(refused.reason, DenyReason::Token(TokenError::WrongAudience));
        assert_eq!(refused.provider.as_deref(), Some("c"));
    }
    // A rule accepting c or a: c refuses, a's entry serves.
    let either = allow("c or a", decide(&policy, "/either", &valid));
    assert_eq!(either.provider.as_deref(), Some("a"));
    assert!(Arc::ptr_eq(&verified(&either), &first));
    assert_eq!(entries(&policy), 1, "refusals by b and c cached nothing");

    // A token of c, cached for c, is no hit for a (wrong audience for a).
    let for_c = token(json!({ "aud": "other-api", "sub": "carol" }));
    allow("cached for c", decide(&policy, "/c", &for_c));
    let refused = deny("c's token on a", decide(&policy, "/read", &for_c));
    assert_eq!(refused.reason, DenyReason::Token(TokenError::WrongAudience));
    assert_eq!(entries(&policy), 2);
}

// ---------------------------------------------------------------------------
// Disabled cache
// ---------------------------------------------------------------------------

#[test]
fn a_disabled_cache_changes_nothing_but_speed() {
    let (policy, keys) = swappable("60s", "{ enabled: false }");
    assert!(policy.token_cache.is_none());
    let valid = token(json!({ "scope": "read" }));
    let first = verified(&allow("first", decide(&policy, "/read", &valid)));
    assert_fresh("second", decide(&policy, "/read", &valid), &first);
    assert_eq!(deny("scope", decide(&policy, "/admin", &valid)).reason, DenyReason::InsufficientScope);
    let forged = sign("k1", OTHER_SECRET, &claims(ISS_A, json!({})));
    assert_eq!(
        deny("forged", decide(&policy, "/read", &forged)).reason,
        DenyReason::Token(TokenError::BadSignature)
    );
    keys.set(Some(set(vec![hs256("k2", OTHER_SECRET)])));
    assert_eq!(
        deny("rotated out", decide(&policy, "/read", &valid)).reason,
        DenyReason::Token(TokenError::UnknownKid)
    );
}

// ---------------------------------------------------------------------------
// Capacity
// ---------------------------------------------------------------------------

#[test]
fn capacity_bounds_the_number_of_entries() {
    let (policy, _keys) = swappable("60s", "{ max_entries: 10 }");
    for i in 0..100 {
        let distinct = token(json!({ "sub": format!("user-{i}") }));
        let allowed = allow(&format!("token #{i}"), decide(&policy, "/read", &distinct));
        assert_eq!(user(&allowed), Some(format!("user-{i}").as_str()));
    }
    let count = entries(&policy);
    assert!((1..=10).contains(&count), "{count} entries in a cache of 10");
    assert!(weight(&policy) <= DEFAULT_MAX_BYTES, "weighted size {} over capacity", weight(&policy));

    // Whatever was evicted, every token still decides correctly.
    for i in 0..100 {
        let distinct = token(json!({ "sub": format!("user-{i}") }));
        allow(&format!("token #{i} again"), decide(&policy, "/read", &distinct));
    }
    assert!(entries(&policy) <= 10);
}

const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;
const MIB: u64 = 1024 * 1024;

/// A payload claim padded so that the token's payload JSON is `len` bytes.
fn token_with_json_len(len: usize) -> String {
    let base = claims(ISS_A, json!({ "pad": "" }));
    let base_len = base.to_string().len();
    assert!(len >= base_len, "payload too short to pad");
    let mut claims = base.clone();
    claims["pad"] = Value::String("x".repeat(len - base_len));
    assert_eq!(claims.to_string().len(), len);
    sign("k1", SECRET, &claims)
}

#[test]
fn entries_weigh_their_estimated_bytes_and_at_least_their_share_of_the_budget() {
    // 1000 entries in 4 MiB: every entry weighs at least 4 MiB / 1000.
    let (policy, _keys) = swappable("60s", &format!("{{ max_entries: 1000, max_bytes: {} }}", 4 * MIB));
    let share = (4 * MIB).div_ceil(1000);
    allow("small", decide(&policy, "/read", &token(json!({}))));
    assert_eq!(weight(&policy), share, "a small token weighs its share of the budget");

    // A 10,000-byte payload (mostly one string) is estimated at its text plus
    // a fixed cost per entry and per claim: well above the share.
    let big = token_with_json_len(10_000);
    let first = verified(&allow("big", decide(&policy, "/read", &big)));
    assert_eq!(first.payload_b64, None, "no payload_header: no copy of the payload is kept");
    let big_weight = weight(&policy) - share;
    assert!((11_000..=14_000).contains(&big_weight), "a 10 kB payload weighs {big_weight} bytes");
    assert_hit("big again", decide(&policy, "/read", &big), &first);
}

#[test]
fn the_byte_budget_bounds_a_cache_of_large_tokens() {
    let (policy, _keys) = swappable("60s", &format!("{{ max_entries: 100000, max_bytes: {MIB} }}"));
    for i in 0..100 {
        let mut claims = claims(ISS_A, json!({ "sub": format!("user-{i}") }));
        claims["pad"] = Value::String("x".repeat(40_000));
        let distinct = sign("k1", SECRET, &claims);
        allow(&format!("large token #{i}"), decide(&policy, "/read", &distinct));
    }
    // Each weighs about 42 kB: a 1 MiB budget holds 24, never 100.
    let count = entries(&policy);
    assert!((1..=25).contains(&count), "{count} large entries in a 1 MiB cache");
    assert!(weight(&policy) <= MIB, "weighted size {} over the budget", weight(&policy));
}

#[test]
fn a_cache_full_of_large_tokens_still_takes_small_ones() {
    let (policy, _keys) = swappable("60s", &format!("{{ max_bytes: {MIB} }}"));
    // About 40 kB of JSON each, estimated at ≈42 kB: two dozen fill the budget.
    for i in 0..30 {
        let mut claims = claims(ISS_A, json!({ "sub": format!("user-{i}") }));
        claims["pad"] = Value::String("x".repeat(40_000));
        allow(&format!("big #{i}"), decide(&policy, "/read", &sign("k1", SECRET, &claims)));
    }
    assert!(weight(&policy) <= MIB, "weighted size {} over capacity", weight(&policy));
    let small = token(json!({}));
    let first = verified(&allow("small", decide(&policy, "/read", &small)));
    assert_hit("small again", decide(&policy, "/read", &small), &first);
}
