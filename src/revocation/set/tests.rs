// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
use serde_json::json;

use super::*;
use crate::revocation::entry::Origin;

const NOW: u64 = 1_700_000_000;
const ISS: &str = "https://idp.test";

fn entry(selector: Selector, expires_at: u64) -> Revocation {
    Revocation { issuer: ISS.to_owned(), selector, expires_at, created_at: NOW, by: Origin::Admin }
}

/// What the set sees of a token with these claims.
fn claims(value: serde_json::Value) -> TokenIds {
    TokenIds::of(value.as_object().unwrap())
}

#[test]
fn a_jti_or_sid_entry_matches_only_that_token_or_session() {
    let set = RevocationSet::build(
        &[
            entry(Selector::Jti { jti: "t1".into() }, NOW + 60),
            entry(Selector::Sid { sid: "s1".into() }, NOW + 60),
        ],
        NOW,
    );
    assert_eq!(set.len(), 2);
    assert!(set.is_revoked(ISS, &claims(json!({ "jti": "t1", "sub": "alice" })), NOW));
    assert!(set.is_revoked(ISS, &claims(json!({ "sid": "s1" })), NOW));
    assert!(!set.is_revoked(ISS, &claims(json!({ "jti": "t2", "sid": "s2", "sub": "alice" })), NOW));
    assert!(!set.is_revoked(ISS, &claims(json!({ "sub": "alice" })), NOW), "no jti or sid: never matched");
    assert!(!set.is_revoked("https://other.test", &claims(json!({ "jti": "t1" })), NOW), "another issuer");
    assert!(!set.is_revoked(ISS, &claims(json!({ "jti": 7 })), NOW), "a non-string jti matches nothing");
}

#[test]
fn a_subject_cutoff_revokes_earlier_tokens_and_tokens_without_iat() {
    let set = RevocationSet::build(
        &[entry(Selector::Sub { sub: "alice".into(), issued_before: NOW }, NOW + 60)],
        NOW,
    );
    assert!(set.is_revoked(ISS, &claims(json!({ "sub": "alice", "iat": NOW - 1 })), NOW));
    assert!(
        !set.is_revoked(ISS, &claims(json!({ "sub": "alice", "iat": NOW })), NOW),
        "issued at the cut-off"
    );
    assert!(!set.is_revoked(ISS, &claims(json!({ "sub": "alice", "iat": NOW + 5 })), NOW));
    assert!(set.is_revoked(ISS, &claims(json!({ "sub": "alice" })), NOW), "no iat: fail closed");
    assert!(
        set.is_revoked(ISS, &claims(json!({ "sub": "alice", "iat": "yesterday" })), NOW),
        "iat not a number"
    );
    assert!(!set.is_revoked(ISS, &claims(json!({ "sub": "bob", "iat": NOW - 1 })), NOW));
}

#[test]
fn an_issuer_cutoff_revokes_everyone_issued_before_it() {
    let set = RevocationSet::build(&[entry(Selector::Issuer { issued_before: NOW }, NOW + 60)], NOW);
    assert!(set.is_revoked(ISS, &claims(json!({ "sub": "anyone", "iat": NOW - 100 })), NOW));
    assert!(set.is_revoked(ISS, &claims(json!({})), NOW));
    assert!(!set.is_revoked(ISS, &claims(json!({ "iat": NOW + 1 })), NOW));
}

#[test]
fn expired_entries_are_neither_indexed_nor_matched() {
    let jti = entry(Selector::Jti { jti: "t1".into() }, NOW + 10);
    let cutoff = entry(Selector::Sub { sub: "alice".into(), issued_before: NOW }, NOW + 10);
    let set = RevocationSet::build(&[jti.clone(), cutoff.clone()], NOW);
    assert!(set.is_revoked(ISS, &claims(json!({ "jti": "t1" })), NOW + 9));
    assert!(!set.is_revoked(ISS, &claims(json!({ "jti": "t1" })), NOW + 10), "matched against its expiry");
    assert!(!set.is_revoked(ISS, &claims(json!({ "sub": "alice", "iat": NOW - 1 })), NOW + 10));
    assert_eq!(RevocationSet::build(&[jti, cutoff], NOW + 10).len(), 0, "not indexed once expired");
}

#[test]
fn of_two_cutoffs_for_one_subject_each_holds_until_its_own_expiry() {
    let set = RevocationSet::build(
        &[
            entry(Selector::Sub { sub: "alice".into(), issued_before: NOW - 100 }, NOW + 1000),
            entry(Selector::Sub { sub: "alice".into(), issued_before: NOW }, NOW + 500),
        ],
        NOW,
    );
    let between = claims(json!({ "sub": "alice", "iat": NOW - 50 }));
    assert!(set.is_revoked(ISS, &between, NOW + 100), "the later cut-off covers it");
    assert!(
        !set.is_revoked(ISS, &between, NOW + 600),
        "the later cut-off expired; the earlier does not cover it"
    );
    assert!(set.is_revoked(ISS, &claims(json!({ "sub": "alice", "iat": NOW - 200 })), NOW + 600));
}
