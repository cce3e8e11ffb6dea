// Unit tests of `evaluate`, compiled only under #[cfg(test)].
//! Revocations against decisions: a revoked token is refused with 401
//! `revoked` whether it comes fresh or from the verified-token cache, and
//! only the tokens an entry covers are.

use super::*;
use crate::revocation::{EntryKey, Origin, Revocation, RevocationMetrics, Revocations, Selector};

/// Far enough ahead of the real clock that the store keeps the entry.
const FOREVER: u64 = u64::MAX / 2;

fn store() -> Arc<Revocations> {
    Arc::new(Revocations::new(Arc::new(RevocationMetrics::default()), true))
}

fn revoke(store: &Revocations, id: u64, issuer: &str, selector: Selector) {
    let entry = Revocation {
        issuer: issuer.to_owned(),
        selector,
        expires_at: FOREVER,
        created_at: NOW,
        by: Origin::Admin,
    };
    store.apply([(EntryKey::Stream(id, 0), entry)]);
}

fn revoking(store: &Arc<Revocations>) -> Policy {
    crate::config::test_policy_revoking(
        &two_providers_yaml(""),
        vec![hmac_keys(SECRET_A), hmac_keys(SECRET_B)],
        Some(store.clone()),
    )
}

fn revoked(case: &str, decision: Decision) {
    let deny = expect_deny(case, decision);
    assert_eq!(deny.reason, DenyReason::Revoked, "[{case}]");
    assert_eq!(deny.reason.http_status(), 401, "[{case}]");
    assert_eq!(deny.provider.as_deref(), Some("a"), "[{case}]");
    assert_eq!(
        deny.www_authenticate().as_deref(),
        Some(r#"Bearer realm="gatehouse", error="invalid_token", error_description="token revoked""#)
    );
}

#[test]
fn a_revoked_jti_is_refused_even_from_the_cache_and_only_that_token() {
    let store = store();
    let policy = revoking(&store);
    let revoked_token = token_a(json!({ "jti": "t-1", "iat": NOW - 10 }));
    let other_token = token_a(json!({ "jti": "t-2", "iat": NOW - 10 }));
    let first = expect_allow("before", decide(&policy, "/a/x", &Headers::bearer(&revoked_token)));
    let again = expect_allow("cached", decide(&policy, "/a/x", &Headers::bearer(&revoked_token)));
    assert!(
        Arc::ptr_eq(first.token.as_ref().unwrap(), again.token.as_ref().unwrap()),
        "served from the cache"
    );

    revoke(&store, 1, ISS_A, Selector::Jti { jti: "t-1".into() });
    revoked("cache hit after the revocation", decide(&policy, "/a/x", &Headers::bearer(&revoked_token)));
    revoked("a route any provider may serve", decide(&policy, "/any/x", &Headers::bearer(&revoked_token)));
    expect_allow("another token of alice", decide(&policy, "/a/x", &Headers::bearer(&other_token)));
    // The same jti at another issuer is another token.
    expect_allow("provider b", decide(&policy, "/b/x", &Headers::bearer(&token_b(json!({ "jti": "t-1" })))));
}

#[test]
fn subject_session_and_issuer_cutoffs() {
    let store = store();
    let policy = revoking(&store);
    let before = token_a(json!({ "iat": NOW - 100, "sid": "s-1" }));
    let after = token_a(json!({ "iat": NOW - 10, "sid": "s-2" }));
    let no_iat = token_a(json!({ "iat": REMOVE }));
    revoke(&store, 1, ISS_A, Selector::Sub { sub: "alice".into(), issued_before: NOW - 50 });
    revoked("alice, issued before the cut-off", decide(&policy, "/a/x", &Headers::bearer(&before)));
    revoked("alice, no iat", decide(&policy, "/a/x", &Headers::bearer(&no_iat)));
    expect_allow("alice, issued after", decide(&policy, "/a/x", &Headers::bearer(&after)));
    let bob = token_a(json!({ "sub": "bob", "iat": NOW - 100 }));
    expect_allow("bob", decide(&policy, "/a/x", &Headers::bearer(&bob)));

    revoke(&store, 2, ISS_A, Selector::Sid { sid: "s-2".into() });
    revoked("the logged-out session", decide(&policy, "/a/x", &Headers::bearer(&after)));

    revoke(&store, 3, ISS_A, Selector::Issuer { issued_before: NOW });
    revoked("everyone of a", decide(&policy, "/a/x", &Headers::bearer(&bob)));
    let fresh = token_a(json!({ "sub": "bob", "iat": NOW + 1 }));
    expect_allow(
        "a token issued after the issuer cut-off",
        decide(&policy, "/a/x", &Headers::bearer(&fresh)),
    );
    expect_allow(
        "provider b",
        decide(&policy, "/b/x", &Headers::bearer(&token_b(json!({ "iat": NOW - 100 })))),
    );
}
