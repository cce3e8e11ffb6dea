// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
use super::*;

#[test]
fn statuses_and_challenges() {
    let missing = DenyReason::MissingToken;
    assert_eq!(missing.http_status(), 401);
    assert_eq!(missing.www_authenticate().as_deref(), Some("Bearer realm=\"gatehouse\""));

    let expired = DenyReason::Token(TokenError::Expired);
    assert_eq!(expired.http_status(), 401);
    assert_eq!(
        expired.www_authenticate().as_deref(),
        Some("Bearer realm=\"gatehouse\", error=\"invalid_token\", error_description=\"token has expired\"")
    );
    assert_eq!(DenyReason::MultipleTokens.http_status(), 400);
    assert_eq!(DenyReason::NoMatchingRule.http_status(), 403);
    assert_eq!(DenyReason::NoMatchingRule.www_authenticate(), None);
    assert_eq!(DenyReason::KeysUnavailable.http_status(), 503);
}

#[test]
fn body_is_small_json() {
    let body: serde_json::Value = serde_json::from_str(&DenyReason::NoMatchingRule.body()).unwrap();
    assert_eq!(body["error"], "no_matching_rule");
    assert_eq!(body["error_description"], "no rule allows this request");
}

#[test]
fn descriptions_are_safe_in_a_quoted_header() {
    let mut labels = std::collections::HashSet::new();
    for error in TokenError::ALL {
        let reason = DenyReason::Token(error);
        assert!(reason.description().bytes().all(|b| b.is_ascii() && b != b'"' && b != b'\\'));
        assert!(labels.insert(reason.as_str()), "duplicate label {}", reason.as_str());
    }
}
