// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
//! Hits, and invalidation when the signing key leaves the key set.

use super::*;

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
