//! The verified-token cache against a remote JWKS that rotates: a cached
//! token is allowed until the IdP stops publishing its signing key and
//! gatehouse refreshes, then refused (401); a token whose key stays
//! published keeps being allowed, and served from the cache, across the
//! refresh. Every wait polls against a deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse::internals::wire::CheckResponse;
use gatehouse::internals::{
    cached_tokens, key_source, start_policy, Authorizer, Decision, DenyReason, HttpRequest, KeySource,
    Policy, TokenError, VerifiedToken,
};
use gatehouse_testkit::idp::{Idp, Mode};
use gatehouse_testkit::*;
use serde_json::{json, Value};

/// One provider `corp` reading keys from `uri`, refreshed every second.
fn config(uri: &str) -> String {
    CorpConfig::new(format!(r#"uri: "{uri}", refresh_interval: 1s"#)).yaml()
}

fn token_for(key: &SigningKey, sub: &str) -> String {
    token_with(key, json!({ "sub": sub }))
}

fn serve(idp: &Idp, keys: &[&SigningKey]) {
    idp.set(Mode::Serve(jwks_json(keys)));
}

// ---------------------------------------------------------------------------
// Over gRPC
// ---------------------------------------------------------------------------

#[track_caller]
fn assert_allowed(response: &CheckResponse, sub: &str) {
    let allowed = ok(response);
    assert_eq!(header(&allowed.headers, "x-user-id"), Some(sub), "{allowed:?}");
}

/// 401 / UNAUTHENTICATED, `invalid_token`, because no loaded key has the
/// token's `kid`.
#[track_caller]
fn assert_unknown_kid(response: &CheckResponse) {
    let (status, code, deny) = denied(response);
    assert_eq!((status, code), (401, 16), "{response:?}");
    let body: Value = serde_json::from_str(&deny.body).unwrap();
    assert_eq!(body["error"], "invalid_token", "{body}");
    assert_eq!(body["error_description"], "no key matches the token's key id", "{body}");
}

/// Successful JWKS fetches so far, from /metrics.
async fn successful_fetches(gatehouse: &Gatehouse) -> f64 {
    let (status, text) = gatehouse.http_get("/metrics").await;
    assert_eq!(status, 200, "{text}");
    let series = r#"gatehouse_jwks_fetch_total{provider="corp",outcome="success"}"#;
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

#[tokio::test]
async fn a_cached_token_is_refused_once_its_key_is_rotated_out() {
    let old = es256_key("old");
    let kept = es256_key("kept");
    let new = es256_key("new");
    let idp = Idp::start(Mode::Serve(jwks_json(&[&old, &kept]))).await;
    let mut gatehouse = Gatehouse::start(&config(&idp.uri())).await;
    gatehouse.wait_ready(Duration::from_secs(5)).await;

    let by_old = token_for(&old, "alice");
    let by_kept = token_for(&kept, "bob");
    for _ in 0..20 {
        assert_allowed(&gatehouse.check_token(&by_old).await, "alice");
        assert_allowed(&gatehouse.check_token(&by_kept).await, "bob");
    }
    // Two first Checks verified, 38 found their token cached; both are held.
    let text = ops::metrics(gatehouse.http).await;
    let series = |s: &str| ops::metric_in(&text, s);
    assert_eq!(series(r#"gatehouse_token_cache_lookups_total{result="miss"}"#), Some(2.0), "{text}");
    assert_eq!(series(r#"gatehouse_token_cache_lookups_total{result="hit"}"#), Some(38.0));
    assert_eq!(series("gatehouse_token_cache_entries"), Some(2.0));
    assert!(series("gatehouse_token_cache_weighted_bytes").is_some_and(|bytes| bytes >= 2.0 * 1024.0));
    assert_eq!(series(r#"gatehouse_check_duration_seconds_count{decision="allow",cache="hit"}"#), Some(38.0));

    // The IdP rotates `old` out. A fetch in flight may still bring the old
    // document; two more successful fetches surely bring the new one. The
    // token of the key that stays published is allowed all along.
    serve(&idp, &[&kept, &new]);
    let before = successful_fetches(&gatehouse).await;
    let rotated = Instant::now();
    while successful_fetches(&gatehouse).await < before + 2.0 {
        assert!(rotated.elapsed() < Duration::from_secs(6), "gatehouse did not refresh its keys");
        assert_allowed(&gatehouse.check_token(&by_kept).await, "bob");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("keys refreshed {:?} after the rotation", rotated.elapsed());

    // The previously cached token is refused, every time; its entry was
    // dropped because its key is gone.
    for _ in 0..5 {
        assert_unknown_kid(&gatehouse.check_token(&by_old).await);
    }
    let invalidated = r#"gatehouse_token_cache_evictions_total{cause="invalidated"}"#;
    assert_eq!(ops::wait_metric(gatehouse.http, invalidated, 1.0, Duration::from_secs(2)).await, 1.0);
    // Nothing else changed.
    for _ in 0..5 {
        assert_allowed(&gatehouse.check_token(&by_kept).await, "bob");
        assert_allowed(&gatehouse.check_token(&token_for(&new, "carol")).await, "carol");
    }

    // A later refresh changes nothing: the old token stays refused.
    let now = successful_fetches(&gatehouse).await;
    let waited = Instant::now();
    while successful_fetches(&gatehouse).await < now + 1.0 {
        assert!(waited.elapsed() < Duration::from_secs(4), "no further refresh");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_unknown_kid(&gatehouse.check_token(&by_old).await);
    assert_allowed(&gatehouse.check_token(&by_kept).await, "bob");
    gatehouse.stop().await;
}

// ---------------------------------------------------------------------------
// Through the library, where a cache hit can be told from a fresh verification
// ---------------------------------------------------------------------------

/// The remote key source, a policy over it and an authorizer, as `Server::bind`
/// builds them.
struct Stack {
    source: Arc<dyn KeySource>,
    policy: Policy,
    authorizer: Authorizer,
}

impl Stack {
    async fn start(yaml: &str) -> Stack {
        let policy = start_policy(specs(yaml)).expect("key sources");
        let stack = Stack { source: key_source(&policy, 0), policy, authorizer: Authorizer::new() };
        stack.wait_for_keys(|kids| !kids.is_empty(), "first key set").await;
        stack
    }

    fn kids(&self) -> Vec<String> {
        self.source
            .current()
            .map_or_else(Vec::new, |set| set.keys().filter_map(|k| k.kid()).map(str::to_owned).collect())
    }

    async fn wait_for_keys(&self, done: impl Fn(&[String]) -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(6);
        while !done(&self.kids()) {
            assert!(Instant::now() < deadline, "{what}: keys are {:?}", self.kids());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn check(&self, token: &str) -> Decision {
        let auth = format!("Bearer {token}");
        let request = HttpRequest {
            method: "GET",
            host: "api.example.com",
            path: "/api/orders",
            headers: vec![("authorization", auth.as_bytes())].into(),
            context_extensions: None,
        };
        self.authorizer.check(&self.policy, &request).await
    }

    fn entries(&self) -> u64 {
        cached_tokens(&self.policy).expect("cache enabled by default")
    }
}

#[track_caller]
fn verified(decision: Decision) -> Arc<VerifiedToken> {
    match decision {
        Decision::Allow(allow) => allow.token.expect("authenticated allow"),
        Decision::Deny(deny) => panic!("expected allow, got {deny:?}"),
    }
}

#[track_caller]
fn refused(decision: Decision) -> DenyReason {
    match decision {
        Decision::Deny(deny) => deny.reason,
        Decision::Allow(allow) => panic!("expected deny, got allow {allow:?}"),
    }
}

#[tokio::test]
async fn a_refresh_drops_only_the_entries_of_keys_that_left() {
    let old = es256_key("old");
    let kept = es256_key("kept");
    let new = es256_key("new");
    let idp = Idp::start(Mode::Serve(jwks_json(&[&old, &kept]))).await;
    let stack = Stack::start(&config(&idp.uri())).await;

    let by_old = token_for(&old, "alice");
    let by_kept = token_for(&kept, "bob");
    let old_entry = verified(stack.check(&by_old).await);
    let kept_entry = verified(stack.check(&by_kept).await);
    assert_eq!(stack.entries(), 2);
    for _ in 0..10 {
        assert!(Arc::ptr_eq(&verified(stack.check(&by_old).await), &old_entry), "a cache hit");
        assert!(Arc::ptr_eq(&verified(stack.check(&by_kept).await), &kept_entry), "a cache hit");
    }

    // Refreshes that bring the same document rebuild every key: the entries
    // stay good (a key's fingerprint is its material, not its object).
    let seen = idp.requests();
    idp.wait_for_requests(seen + 2, Duration::from_secs(4)).await;
    assert!(Arc::ptr_eq(&verified(stack.check(&by_old).await), &old_entry), "hit after a refresh");

    // `old` rotated out, `new` in: the kept key's token is served from the
    // cache throughout.
    serve(&idp, &[&kept, &new]);
    let deadline = Instant::now() + Duration::from_secs(6);
    while stack.kids().contains(&"old".to_owned()) {
        assert!(Instant::now() < deadline, "the rotation was never loaded: {:?}", stack.kids());
        assert!(
            Arc::ptr_eq(&verified(stack.check(&by_kept).await), &kept_entry),
            "kept key, during rotation"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(refused(stack.check(&by_old).await), DenyReason::Token(TokenError::UnknownKid));
    assert_eq!(stack.entries(), 1, "the rotated-out key's entry is dropped");
    assert!(Arc::ptr_eq(&verified(stack.check(&by_kept).await), &kept_entry), "kept key, after rotation");
    let by_new = token_for(&new, "carol");
    let new_entry = verified(stack.check(&by_new).await);
    assert!(Arc::ptr_eq(&verified(stack.check(&by_new).await), &new_entry));
    assert_eq!(stack.entries(), 2);

    // The IdP reuses the kid `kept` for new material: the cached token was
    // signed by a key that is no longer published.
    let impostor = es256_key("kept");
    serve(&idp, &[&impostor, &new]);
    let before = idp.requests();
    idp.wait_for_requests(before + 2, Duration::from_secs(4)).await;
    // The second request's answer carried the new document; wait until it is loaded.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match stack.check(&by_kept).await {
            Decision::Deny(deny) => {
                assert_eq!(deny.reason, DenyReason::Token(TokenError::BadSignature));
                break;
            }
            Decision::Allow(allow) => {
                assert!(Instant::now() < deadline, "token of a replaced key still allowed");
                assert!(Arc::ptr_eq(&allow.token.unwrap(), &kept_entry));
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(refused(stack.check(&by_kept).await), DenyReason::Token(TokenError::BadSignature));
    assert!(Arc::ptr_eq(&verified(stack.check(&by_new).await), &new_entry), "new key untouched");
    assert_eq!(stack.entries(), 1);
}
