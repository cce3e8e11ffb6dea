// Unit tests of `evaluate`, compiled only under #[cfg(test)].

use super::*;

// ---------------------------------------------------------------------------
// 4. Anonymous rules
// ---------------------------------------------------------------------------

#[test]
fn anonymous_rule_strips_every_identity_header_of_every_provider() {
    let policy = two_providers();
    let valid = token_a(json!({}));
    let cases: &[(&str, &str, Headers)] = &[
        (
            "forged identity and garbage token",
            "/public/page",
            Headers::new(&[
                ("x-user-id", "admin"),
                ("X-B-Tenant", "root"),
                ("authorization", "Bearer garbage"),
            ]),
        ),
        (
            "forged payload headers",
            "/public",
            Headers::new(&[("x-jwt-payload", "e30"), ("x-b-payload", "e30")]),
        ),
        (
            "two conflicting tokens",
            "/public",
            Headers::new(&[("authorization", "Bearer a"), ("authorization", "Bearer b")]),
        ),
        ("a valid token is not used", "/public", Headers::bearer(&valid)),
        ("exact path rule", "/health", Headers::new(&[("x-user-id", "admin")])),
    ];
    let mut every: Vec<&str> = A_HEADERS.to_vec();
    every.extend(B_ONLY_HEADERS);
    for (case, path, headers) in cases {
        let allow = expect_allow(case, decide(&policy, path, headers));
        assert_eq!(allow.provider, None, "[{case}]");
        assert!(allow.token.is_none(), "[{case}]");
        assert!(allow.set_headers.is_empty(), "[{case}] nothing is set: {:?}", allow.set_headers);
        for name in &every {
            assert!(removes(&allow, name), "[{case}] `{name}` must be stripped: {:?}", allow.remove_headers);
        }
    }
}

// ---------------------------------------------------------------------------
// 5. Several providers
// ---------------------------------------------------------------------------

#[test]
fn rules_choose_providers() {
    let policy = two_providers();
    let a = token_a(json!({}));
    let b = token_b(json!({ "tenant": "t" }));

    let wrong: &[(&str, &str, &str, &str)] = &[
        ("b's token on an a-only rule", "/a", &b, "only-a"),
        ("a's token on a b-only rule", "/b", &a, "only-b"),
    ];
    for (case, path, token, rule) in wrong {
        let deny = expect_deny(case, decide(&policy, path, &Headers::bearer(token)));
        assert_eq!(deny.reason, DenyReason::Token(TokenError::WrongIssuer), "[{case}]");
        assert_eq!(deny.reason.http_status(), 401, "[{case}]");
        assert_eq!(label(&deny.rule), Some(*rule), "[{case}]");
    }

    let right: &[(&str, &str, &str, &str)] = &[
        ("any provider: a", "/any", &a, "a"),
        ("any provider: b", "/any/x", &b, "b"),
        ("a on a-only", "/a", &a, "a"),
        ("b on b-only", "/b", &b, "b"),
    ];
    for (case, path, token, provider) in right {
        let allow = expect_allow(case, decide(&policy, path, &Headers::bearer(token)));
        assert_eq!(label(&allow.provider), Some(*provider), "[{case}]");
        assert_eq!(header(&allow, "x-user-id"), Some("alice"), "[{case}] shared header set by either");
        if *provider == "a" {
            for name in B_ONLY_HEADERS {
                assert!(
                    removes(&allow, name),
                    "[{case}] b-only `{name}` stripped: {:?}",
                    allow.remove_headers
                );
            }
            assert!(removes(&allow, "authorization"), "[{case}] a does not forward");
        } else {
            assert_eq!(header(&allow, "x-b-tenant"), Some("t"), "[{case}]");
            assert!(!removes(&allow, "authorization"), "[{case}] b forwards");
        }
    }

    // A token claiming a's issuer but signed with b's secret: a verifies it and refuses.
    let spoofed = sign(SECRET_B, &claims(ISS_A, json!({})));
    let deny = expect_deny("issuer spoofing", decide(&policy, "/any", &Headers::bearer(&spoofed)));
    assert_eq!(deny.reason, DenyReason::Token(TokenError::BadSignature));
    assert_eq!(label(&deny.provider), Some("a"));
}

// ---------------------------------------------------------------------------
// 6. Token sources
// ---------------------------------------------------------------------------

#[test]
fn header_and_query_tokens() {
    let strip = header_and_query(false);
    let forward = header_and_query(true);
    let t1 = token_a(json!({ "sub": "one" }));
    let t2 = token_a(json!({ "sub": "two" }));

    let deny = expect_deny(
        "different tokens in header and query",
        decide(&strip, &format!("/api?access_token={t2}"), &Headers::bearer(&t1)),
    );
    assert_eq!(deny.reason, DenyReason::MultipleTokens);
    assert_eq!(deny.reason.http_status(), 400);
    assert_eq!(label(&deny.rule), Some("api"));
    assert!(deny.reason.www_authenticate().unwrap().contains(r#"error="invalid_request""#));

    let deny = expect_deny(
        "two different query tokens",
        decide(&strip, &format!("/api?access_token={t1}&access_token={t2}"), &Headers::none()),
    );
    assert_eq!(deny.reason, DenyReason::MultipleTokens);

    let path = format!("/api?access_token={t1}");
    let allow = expect_allow("same token in header and query", decide(&strip, &path, &Headers::bearer(&t1)));
    assert_eq!(label(&allow.provider), Some("q"));
    assert_eq!(header(&allow, "x-user-id"), Some("one"));
    assert!(removes(&allow, "authorization"), "{:?}", allow.remove_headers);

    let path = format!("/api/items?page=2&access_token={t1}");
    let allow = expect_allow("query only, forward_token false", decide(&strip, &path, &Headers::none()));
    assert_eq!(header(&allow, "x-user-id"), Some("one"));
    assert_eq!(allow.remove_query_params, vec![Arc::<str>::from("access_token")]);
    assert!(!removes(&allow, "authorization"), "no header token to strip: {:?}", allow.remove_headers);

    let allow = expect_allow("query only, forward_token true", decide(&forward, &path, &Headers::none()));
    assert!(allow.remove_query_params.is_empty(), "{:?}", allow.remove_query_params);

    let allow =
        expect_allow("header only, forward_token true", decide(&forward, "/api", &Headers::bearer(&t1)));
    assert!(!removes(&allow, "authorization"));
}

#[test]
fn a_token_present_in_two_sources_is_stripped_from_both() {
    let strip = header_and_query(false);
    let t1 = token_a(json!({}));
    let path = format!("/api?access_token={t1}");
    let allow = expect_allow("same token in header and query", decide(&strip, &path, &Headers::bearer(&t1)));
    assert!(removes(&allow, "authorization"), "{:?}", allow.remove_headers);
    assert_eq!(
        allow.remove_query_params,
        vec![Arc::<str>::from("access_token")],
        "forward_token: false, yet the credential still reaches the upstream in the query string"
    );
}

// ---------------------------------------------------------------------------
// 7. Keys unavailable
// ---------------------------------------------------------------------------

#[test]
fn keys_unavailable_is_503_and_never_allows() {
    let policy = policy(&two_providers_yaml(""), vec![no_keys(), hmac_keys(SECRET_B)]);
    let cases: &[(&str, &str, String)] = &[
        ("valid a token, a-only", "/a", token_a(json!({}))),
        ("valid a token, any provider", "/any", token_a(json!({}))),
        ("expired a token", "/a", token_a(json!({ "exp": NOW - 1000 }))),
        ("a token signed with b's secret", "/any", sign(SECRET_B, &claims(ISS_A, json!({})))),
    ];
    for (case, path, token) in cases {
        let deny = expect_deny(case, decide(&policy, path, &Headers::bearer(token)));
        assert_eq!(deny.reason, DenyReason::KeysUnavailable, "[{case}]");
        assert_eq!(deny.reason.http_status(), 503, "[{case}]");
        assert_eq!(deny.reason.www_authenticate(), None, "[{case}] not a credential problem");
        assert_eq!(label(&deny.provider), Some("a"), "[{case}]");
    }
    // The other provider and anonymous routes are unaffected.
    let allow = expect_allow("b still works", decide(&policy, "/any", &Headers::bearer(&token_b(json!({})))));
    assert_eq!(label(&allow.provider), Some("b"));
    let allow = expect_allow("anonymous still works", decide(&policy, "/public", &Headers::none()));
    assert_eq!(allow.provider, None);
}

// ---------------------------------------------------------------------------
// 8. No matching rule / default
// ---------------------------------------------------------------------------

#[test]
fn unmatched_requests_follow_the_default() {
    let deny_default = two_providers();
    let allow_default = policy(
        &two_providers_yaml("default: allow_anonymous\n"),
        vec![hmac_keys(SECRET_A), hmac_keys(SECRET_B)],
    );
    let token = token_a(json!({}));
    let cases: &[(&str, &str, Headers)] = &[
        ("no token", "/elsewhere", Headers::none()),
        ("valid token", "/elsewhere/x", Headers::bearer(&token)),
        ("root", "/", Headers::new(&[("x-user-id", "admin")])),
    ];
    for (case, path, headers) in cases {
        let deny = expect_deny(case, decide(&deny_default, path, headers));
        assert_eq!(deny.reason, DenyReason::NoMatchingRule, "[{case}]");
        assert_eq!(deny.reason.http_status(), 403, "[{case}]");
        assert_eq!((deny.rule, deny.provider), (None, None), "[{case}]");

        let allow = expect_allow(case, decide(&allow_default, path, headers));
        assert_eq!(&*allow.rule, "default", "[{case}]");
        assert_eq!(allow.provider, None, "[{case}] default is anonymous, a token is not used");
        for name in A_HEADERS.iter().chain(B_ONLY_HEADERS) {
            assert!(removes(&allow, name), "[{case}] `{name}` stripped: {:?}", allow.remove_headers);
        }
    }
}

// ---------------------------------------------------------------------------
// 9. Header injection
// ---------------------------------------------------------------------------

#[test]
fn claims_with_control_characters_are_never_set() {
    let policy = two_providers();
    let cases: &[(&str, Value, &str)] = &[
        ("crlf in a string", json!({ "email": "a@b.c\r\nx-admin: true" }), "x-email"),
        ("lone lf", json!({ "email": "a@b.c\nx-admin: true" }), "x-email"),
        ("lone cr", json!({ "email": "a@b.c\rx" }), "x-email"),
        ("nul", json!({ "email": "a\u{0}b" }), "x-email"),
        ("del", json!({ "email": "a\u{7f}b" }), "x-email"),
        ("crlf in the subject", json!({ "sub": "alice\r\nx-user-id: admin" }), "x-user-id"),
        ("crlf in a nested claim", json!({ "org": { "id": "o\r\nx: y" } }), "x-org-id"),
    ];
    for (case, extra, name) in cases {
        let allow = expect_allow(case, decide(&policy, "/a", &Headers::bearer(&token_a(extra.clone()))));
        assert_eq!(header(&allow, name), None, "[{case}] must not be set: {:?}", allow.set_headers);
        assert!(removes(&allow, name), "[{case}] must be stripped instead: {:?}", allow.remove_headers);
    }
    // An array with one bad element: whatever is set must not carry the injection.
    let extra = json!({ "roles": ["user", "admin\r\nx-admin: true"] });
    let allow =
        expect_allow("crlf in an array element", decide(&policy, "/a", &Headers::bearer(&token_a(extra))));
    assert!(header(&allow, "x-roles").is_none_or(|v| !v.contains("x-admin")), "{:?}", allow.set_headers);
    // Inside an object the CR LF is JSON-escaped (`\r\n` as text), so it cannot inject.
    let extra = json!({ "roles": { "k": "v\r\n" } });
    let allow =
        expect_allow("crlf inside an object", decide(&policy, "/a", &Headers::bearer(&token_a(extra))));
    assert_eq!(header(&allow, "x-roles"), Some(r#"{"k":"v\r\n"}"#));
    // A tab is allowed in a field value (RFC 9110 §5.5).
    let allow =
        expect_allow("tab", decide(&policy, "/a", &Headers::bearer(&token_a(json!({ "email": "a\tb" })))));
    assert_eq!(header(&allow, "x-email"), Some("a\tb"));
}

// ---------------------------------------------------------------------------
// 10. Token size limit
// ---------------------------------------------------------------------------

#[test]
fn tokens_over_the_size_limit_are_refused_before_parsing() {
    let token = token_a(json!({ "pad": "x".repeat(300) }));
    let len = token.len();
    assert!(len > 256, "test token must be longer than the smallest allowed limit");
    let with_limit = |max: usize| {
        let limits = format!("limits: {{ max_token_bytes: {max} }}\n");
        policy(&two_providers_yaml(&limits), vec![hmac_keys(SECRET_A), hmac_keys(SECRET_B)])
    };

    let allow =
        expect_allow("exactly at the limit", decide(&with_limit(len), "/a", &Headers::bearer(&token)));
    assert_eq!(label(&allow.provider), Some("a"));

    let cases: &[(&str, usize, String)] = &[
        ("one byte over", len - 1, token.clone()),
        ("far over", 256, token.clone()),
        ("oversized garbage is not parsed", 256, "x".repeat(10_000)),
    ];
    for (case, max, token) in cases {
        let deny = expect_deny(case, decide(&with_limit(*max), "/a", &Headers::bearer(token)));
        assert_eq!(deny.reason, DenyReason::Token(TokenError::TooLarge), "[{case}]");
        assert_eq!(deny.reason.http_status(), 401, "[{case}]");
        assert_eq!(label(&deny.rule), Some("only-a"), "[{case}]");
    }
}

// ---------------------------------------------------------------------------
// 11. Path matching
// ---------------------------------------------------------------------------

#[test]
fn path_matching_ignores_the_query_and_respects_segments() {
    let policy = two_providers();
    // (case, path, rule that must decide, or None for no match)
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("prefix itself", "/public", Some("public")),
        ("prefix with trailing slash", "/public/", Some("public")),
        ("below the prefix", "/public/a/b", Some("public")),
        ("query looks like another route", "/public?x=/admin", Some("public")),
        ("query looks like a protected route", "/public?next=/a/secret", Some("public")),
        ("prefix is not a string prefix", "/publicity", None),
        ("prefix is not a string prefix, with query", "/publicity?x=/public", None),
        ("protected route with a public-looking query", "/a?redirect=/public", Some("only-a")),
        ("exact path with query", "/health?probe=1", Some("health")),
        ("exact path is exact", "/health/x", None),
        ("exact path is exact (longer)", "/healthz", None),
        ("a-only is a segment prefix", "/ab", None),
        ("any route", "/any/thing?q=1", Some("any")),
    ];
    for (case, path, want) in cases {
        let decision = decide(&policy, path, &Headers::none());
        let got = match &decision {
            Decision::Allow(allow) => Some(allow.rule.clone()),
            Decision::Deny(deny) if deny.reason == DenyReason::NoMatchingRule => {
                assert_eq!(deny.rule, None, "[{case}]");
                None
            }
            Decision::Deny(deny) => {
                assert_eq!(deny.reason, DenyReason::MissingToken, "[{case}] protected route without a token");
                Some(deny.rule.clone().expect("a matched rule is labelled"))
            }
        };
        assert_eq!(got.as_deref(), *want, "[{case}] {path} decided by {decision:?}");
        if let Decision::Allow(allow_) = decision {
            expect_allow(case, Decision::Allow(allow_));
        }
    }
}
