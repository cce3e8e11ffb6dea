// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
//! Capacity: the entry bound and the byte budget.

use super::*;

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
    // `scope` is kept (scope requirements read it); a claim nothing reads is dropped.
    let base = claims(ISS_A, json!({ "scope": "" }));
    let base_len = base.to_string().len();
    assert!(len >= base_len, "payload too short to pad");
    let mut claims = base.clone();
    claims["scope"] = Value::String("x".repeat(len - base_len));
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
    assert!((10_000..=12_000).contains(&big_weight), "a 10 kB payload weighs {big_weight} bytes");
    assert_hit("big again", decide(&policy, "/read", &big), &first);
}

#[test]
fn claims_nothing_reads_are_not_kept_and_not_weighed() {
    let (policy, _keys) = swappable("60s", &format!("{{ max_entries: 1000, max_bytes: {} }}", 4 * MIB));
    let share = (4 * MIB).div_ceil(1000);
    let mut padded = claims(ISS_A, json!({ "sub": "alice", "scope": "read" }));
    padded["profile"] = json!({ "bio": "x".repeat(20_000), "links": ["a", "b"] });
    let first = verified(&allow("padded", decide(&policy, "/read", &sign("k1", SECRET, &padded))));
    assert_eq!(first.claims.get("profile"), None, "no rule, header or metadata reads it");
    assert_eq!(first.claims["sub"], "alice");
    assert_eq!(first.claims["scope"], "read");
    assert_eq!(weight(&policy), share, "weighs what it keeps: a small token's share");
}

#[test]
fn the_byte_budget_bounds_a_cache_of_large_tokens() {
    let (policy, _keys) = swappable("60s", &format!("{{ max_entries: 100000, max_bytes: {MIB} }}"));
    for i in 0..100 {
        let mut claims = claims(ISS_A, json!({ "sub": format!("user-{i}") }));
        claims["scope"] = Value::String("x".repeat(40_000));
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
        claims["scope"] = Value::String("x".repeat(40_000));
        allow(&format!("big #{i}"), decide(&policy, "/read", &sign("k1", SECRET, &claims)));
    }
    assert!(weight(&policy) <= MIB, "weighted size {} over capacity", weight(&policy));
    let small = token(json!({}));
    let first = verified(&allow("small", decide(&policy, "/read", &small)));
    assert_hit("small again", decide(&policy, "/read", &small), &first);
}
