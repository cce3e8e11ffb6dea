// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
//! Entry lifetime: `exp`, clock skew, `max_ttl`.

use super::*;

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
    let no_exp = token(json!({ "exp": crate::dev::testing::REMOVE }));
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
