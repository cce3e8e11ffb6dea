// Unit tests of `evaluate`, compiled only under #[cfg(test)].

use super::*;

// ---------------------------------------------------------------------------
// 1. Missing token
// ---------------------------------------------------------------------------

#[test]
fn missing_token_on_a_protected_route_is_401_with_a_bare_challenge() {
    let policy = two_providers();
    let cases: &[(&str, &str, Headers, &str)] = &[
        ("no headers at all", "/a/orders", Headers::none(), "only-a"),
        ("forged identity header only", "/a", Headers::new(&[("x-user-id", "root")]), "only-a"),
        (
            "basic auth is not a bearer token",
            "/b/x",
            Headers::new(&[("authorization", "Basic dTpw")]),
            "only-b",
        ),
        ("empty authorization", "/any", Headers::new(&[("authorization", "")]), "any"),
        ("scheme without token", "/any", Headers::new(&[("authorization", "Bearer")]), "any"),
    ];
    for (case, path, headers, rule) in cases {
        let deny = expect_deny(case, decide(&policy, path, headers));
        assert_eq!(deny.reason, DenyReason::MissingToken, "[{case}]");
        assert_eq!(label(&deny.rule), Some(*rule), "[{case}] rule label");
        assert_eq!(deny.provider, None, "[{case}] no provider was chosen");
        assert_eq!(deny.reason.http_status(), 401, "[{case}]");
        assert_eq!(
            deny.reason.www_authenticate().as_deref(),
            Some(r#"Bearer realm="gatehouse""#),
            "[{case}] challenge"
        );
    }
}

// ---------------------------------------------------------------------------
// 2. Valid token
// ---------------------------------------------------------------------------

#[test]
fn valid_token_sets_claim_headers_and_strips_the_credential() {
    let policy = two_providers();
    let token = token_a(json!({
        "org": { "id": "org-7", "name": "Acme" },
        "level": 3,
        "roles": ["admin", "dev"],
    }));
    // A forged copy of an identity header: gatehouse's value must win.
    let headers = Headers::bearer(&token).with("x-user-id", "mallory");
    let allow = expect_allow("provider a", decide(&policy, "/a/orders", &headers));

    assert_eq!(&*allow.rule, "only-a");
    assert_eq!(label(&allow.provider), Some("a"));
    let cases: &[(&str, Option<&str>)] = &[
        ("x-user-id", Some("alice")),
        ("x-org-id", Some("org-7")),
        ("x-level", Some("3")),
        ("x-roles", Some("admin,dev")),
        ("x-email", None),
        ("x-jwt-payload", Some(token.split('.').nth(1).unwrap())),
    ];
    for (name, want) in cases {
        assert_eq!(header(&allow, name), *want, "set_headers[{name}]: {:?}", allow.set_headers);
    }
    assert_eq!(
        allow.set_headers.len(),
        5,
        "exactly the present claims and the payload: {:?}",
        allow.set_headers
    );
    assert!(removes(&allow, "x-email"), "absent claim's header must be stripped: {:?}", allow.remove_headers);
    assert!(
        removes(&allow, "authorization"),
        "forward_token: false strips the token: {:?}",
        allow.remove_headers
    );
    for name in B_ONLY_HEADERS {
        assert!(removes(&allow, name), "b's header `{name}` must be stripped: {:?}", allow.remove_headers);
    }
    assert!(allow.remove_query_params.is_empty());
    let verified = allow.token.as_ref().expect("verified token");
    assert_eq!(verified.claims["sub"], "alice");
    assert_eq!(verified.payload_b64.as_deref(), token.split('.').nth(1), "kept for payload_header");
}

#[test]
fn claim_values_are_rendered_as_header_text() {
    let policy = two_providers();
    let cases: &[(&str, Value, &str, Option<&str>)] = &[
        ("nested string", json!({ "org": { "id": "x" } }), "x-org-id", Some("x")),
        ("nested number", json!({ "org": { "id": 42 } }), "x-org-id", Some("42")),
        ("nested path through a non-object", json!({ "org": "flat" }), "x-org-id", None),
        ("nested key missing", json!({ "org": { "name": "n" } }), "x-org-id", None),
        ("integer", json!({ "level": 3 }), "x-level", Some("3")),
        ("negative float", json!({ "level": -1.5 }), "x-level", Some("-1.5")),
        ("boolean", json!({ "level": true }), "x-level", Some("true")),
        ("null claim", json!({ "level": Value::Null }), "x-level", None),
        ("absent claim", json!({ "level": REMOVE }), "x-level", None),
        ("array of strings", json!({ "roles": ["a", "b", "c"] }), "x-roles", Some("a,b,c")),
        ("array of numbers", json!({ "roles": [1, 2] }), "x-roles", Some("1,2")),
        ("single-element array", json!({ "roles": ["only"] }), "x-roles", Some("only")),
        ("object as compact json", json!({ "roles": { "k": "v" } }), "x-roles", Some(r#"{"k":"v"}"#)),
    ];
    for (case, extra, name, want) in cases {
        let allow = expect_allow(case, decide(&policy, "/a", &Headers::bearer(&token_a(extra.clone()))));
        assert_eq!(header(&allow, name), *want, "[{case}] set_headers: {:?}", allow.set_headers);
        if want.is_none() {
            assert!(
                removes(&allow, name),
                "[{case}] `{name}` not set must be removed: {:?}",
                allow.remove_headers
            );
        }
    }
}

#[test]
fn forward_token_true_keeps_the_authorization_header() {
    let policy = two_providers();
    let token = token_b(json!({ "tenant": "t1" }));
    let allow = expect_allow("provider b", decide(&policy, "/b", &Headers::bearer(&token)));
    assert_eq!(label(&allow.provider), Some("b"));
    assert_eq!(&*allow.rule, "only-b");
    assert_eq!(header(&allow, "x-user-id"), Some("alice"));
    assert_eq!(header(&allow, "x-b-tenant"), Some("t1"));
    assert_eq!(header(&allow, "x-b-payload"), Some(token.split('.').nth(1).unwrap()));
    assert!(!removes(&allow, "authorization"), "forward_token: true: {:?}", allow.remove_headers);
    for name in A_HEADERS.iter().filter(|h| **h != "x-user-id") {
        assert!(removes(&allow, name), "a's header `{name}` must be stripped: {:?}", allow.remove_headers);
    }
}

// ---------------------------------------------------------------------------
// 3. Invalid tokens
// ---------------------------------------------------------------------------

#[test]
fn invalid_tokens_are_denied_with_the_matching_reason() {
    let policy = two_providers();
    let good = token_a(json!({}));
    let tampered = {
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        parts[1] = b64(claims(ISS_A, json!({ "sub": "admin" })).to_string().as_bytes());
        parts.join(".")
    };
    let none_header = b64(br#"{"alg":"none","typ":"JWT"}"#);
    let alg_none = format!("{none_header}.{}.", b64(claims(ISS_A, json!({})).to_string().as_bytes()));
    let alg_none_signed = sign_raw(SECRET_A, r#"{"alg":"none"}"#, &claims(ISS_A, json!({})).to_string());

    // (case, token, reason, provider that was chosen)
    let cases: Vec<(&str, String, TokenError, Option<&str>)> = vec![
        ("expired", token_a(json!({ "exp": NOW - 120 })), TokenError::Expired, Some("a")),
        (
            "expired exactly at the skew boundary",
            token_a(json!({ "exp": NOW - 60 })),
            TokenError::Expired,
            Some("a"),
        ),
        (
            "signed with b's secret",
            sign(SECRET_B, &claims(ISS_A, json!({}))),
            TokenError::BadSignature,
            Some("a"),
        ),
        ("payload tampered", tampered, TokenError::BadSignature, Some("a")),
        ("wrong audience", token_a(json!({ "aud": "web" })), TokenError::WrongAudience, Some("a")),
        ("no audience", token_a(json!({ "aud": REMOVE })), TokenError::WrongAudience, Some("a")),
        (
            "unknown issuer",
            sign(SECRET_A, &claims("https://evil.example", json!({}))),
            TokenError::WrongIssuer,
            None,
        ),
        (
            "no issuer",
            sign(SECRET_A, &claims(ISS_A, json!({ "iss": REMOVE }))),
            TokenError::WrongIssuer,
            None,
        ),
        ("alg none, empty signature", alg_none, TokenError::AlgorithmNotAllowed, None),
        ("alg none, with a signature", alg_none_signed, TokenError::AlgorithmNotAllowed, None),
        (
            "HS384 not pinned",
            sign_raw(SECRET_A, r#"{"alg":"HS384"}"#, &claims(ISS_A, json!({})).to_string()),
            TokenError::AlgorithmNotAllowed,
            Some("a"),
        ),
        ("not a jwt", "not-a-jwt".to_owned(), TokenError::Malformed, None),
        ("two segments", "abc.def".to_owned(), TokenError::Malformed, None),
        ("garbage segments", "abc.def.ghi".to_owned(), TokenError::Malformed, None),
        ("payload not json", sign_raw(SECRET_A, HS256_HEADER, "not json"), TokenError::Malformed, None),
        ("five segments (JWE)", "a.b.c.d.e".to_owned(), TokenError::Encrypted, None),
    ];
    for (case, token, error, provider) in cases {
        let deny = expect_deny(case, decide(&policy, "/a", &Headers::bearer(&token)));
        assert_eq!(deny.reason, DenyReason::Token(error), "[{case}] token {token}");
        assert_eq!(deny.reason.http_status(), 401, "[{case}]");
        assert_eq!(label(&deny.rule), Some("only-a"), "[{case}] rule label");
        assert_eq!(label(&deny.provider), provider, "[{case}] provider label");
        let challenge = deny.reason.www_authenticate().unwrap_or_default();
        assert!(challenge.contains(r#"error="invalid_token""#), "[{case}] challenge {challenge}");
    }
}
