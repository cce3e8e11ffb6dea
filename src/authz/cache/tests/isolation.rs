// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
//! What a hit must not change: only successes are cached, rules still run,
//! providers are isolated, and a disabled cache caches nothing.

use super::*;

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
