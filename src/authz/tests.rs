//! End-to-end tests of [`evaluate`]: YAML config → compiled [`Policy`] →
//! decision for a request, with HS256 tokens signed here.
//!
//! Every `Allow` produced by these tests goes through [`allow`], which checks
//! the invariants that must hold for any allow (no header both set and
//! removed, no control characters in a set value, ...).

use std::sync::Arc;

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use super::jwt::TokenError;
use super::*;
use crate::config::from_yaml;
use crate::keys::{Algorithm, KeySet, KeySource, StaticKeys, VerifyingKey};

const NOW: u64 = 1_700_000_000;
const SECRET_A: &[u8] = b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-secret-of-provider-a";
const SECRET_B: &[u8] = b"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-secret-of-provider-b";
const ISS_A: &str = "https://a.example";
const ISS_B: &str = "https://b.example";
const HS256_HEADER: &str = r#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#;

// ---------------------------------------------------------------------------
// Keys and tokens
// ---------------------------------------------------------------------------

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A compact JWS over the literal header and payload JSON, HS256 with `secret`.
fn sign_raw(secret: &[u8], header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

fn sign(secret: &[u8], claims: &Value) -> String {
    sign_raw(secret, HS256_HEADER, &claims.to_string())
}

/// In `extra`, removes the claim instead of setting it.
const REMOVE: &str = "<remove>";

/// Valid claims for `issuer` (audience `api`, expiring in 5 minutes), with
/// `extra` merged over them.
fn claims(issuer: &str, extra: Value) -> Value {
    let mut base = json!({ "iss": issuer, "aud": "api", "sub": "alice", "exp": NOW + 300 });
    let map = base.as_object_mut().unwrap();
    for (key, value) in extra.as_object().expect("extra claims must be an object") {
        if value == REMOVE {
            map.remove(key);
        } else {
            map.insert(key.clone(), value.clone());
        }
    }
    base
}

fn token_a(extra: Value) -> String {
    sign(SECRET_A, &claims(ISS_A, extra))
}

fn token_b(extra: Value) -> String {
    sign(SECRET_B, &claims(ISS_B, extra))
}

fn hmac_keys(secret: &[u8]) -> Arc<dyn KeySource> {
    let key = VerifyingKey::hmac(Some("k1".into()), secret, &[Algorithm::HS256]).expect("hmac key");
    Arc::new(StaticKeys::new(KeySet::new(vec![key]), "inline"))
}

/// A remote JWKS that has never been fetched.
struct NoKeys;

impl KeySource for NoKeys {
    fn current(&self) -> Option<Arc<KeySet>> {
        None
    }

    fn kind(&self) -> &'static str {
        "remote"
    }
}

fn no_keys() -> Arc<dyn KeySource> {
    Arc::new(NoKeys)
}

// ---------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------

fn policy(yaml: &str, keys: Vec<Arc<dyn KeySource>>) -> Policy {
    let config = from_yaml(yaml).unwrap_or_else(|e| panic!("test config does not load:\n{e}\n---\n{yaml}"));
    assert_eq!(config.providers.len(), keys.len(), "one key source per provider");
    Policy::compile(&config, keys)
}

/// Provider `a`: header names deliberately mixed-case in the config.
const PROVIDER_A: &str = r#"
  - name: a
    issuer: https://a.example
    audiences: [api]
    algorithms: [HS256]
    hmac_secret: { env: GATEHOUSE_TEST_SECRET_A }
    claims_to_headers:
      - { claim: sub, header: X-User-Id }
      - { claim: org.id, header: x-org-id }
      - { claim: level, header: x-level }
      - { claim: roles, header: x-roles }
      - { claim: email, header: X-Email }
    payload_header: x-jwt-payload
    forward_token: false
"#;

/// Provider `b`: shares `x-user-id` with `a`, has two headers of its own, and
/// forwards the token.
const PROVIDER_B: &str = r#"
  - name: b
    issuer: https://b.example
    audiences: [api]
    algorithms: [HS256]
    hmac_secret: { env: GATEHOUSE_TEST_SECRET_B }
    claims_to_headers:
      - { claim: sub, header: x-user-id }
      - { claim: tenant, header: x-b-tenant }
    payload_header: x-b-payload
    forward_token: true
"#;

const RULES: &str = r#"
rules:
  - name: public
    match: { path_prefix: /public }
    allow: anonymous
  - name: health
    match: { path: /health }
    allow: anonymous
  - name: only-a
    match: { path_prefix: /a }
    require: { providers: [a] }
  - name: only-b
    match: { path_prefix: /b }
    require: { providers: [b] }
  - name: any
    match: { path_prefix: /any }
    require: {}
"#;

/// Every identity header of `a` and `b` (lower-cased, as compiled).
const A_HEADERS: &[&str] = &["x-user-id", "x-org-id", "x-level", "x-roles", "x-email", "x-jwt-payload"];
const B_ONLY_HEADERS: &[&str] = &["x-b-tenant", "x-b-payload"];

fn two_providers_yaml(extra: &str) -> String {
    format!("providers:{PROVIDER_A}{PROVIDER_B}{RULES}{extra}")
}

fn two_providers() -> Policy {
    policy(&two_providers_yaml(""), vec![hmac_keys(SECRET_A), hmac_keys(SECRET_B)])
}

/// One provider reading the token from `Authorization: Bearer` or `?access_token=`.
fn header_and_query(forward_token: bool) -> Policy {
    let yaml = format!(
        r#"
providers:
  - name: q
    issuer: https://a.example
    audiences: [api]
    algorithms: [HS256]
    hmac_secret: {{ env: GATEHOUSE_TEST_SECRET_A }}
    token_sources:
      - header: authorization
        prefix: "Bearer "
      - query: access_token
    claims_to_headers:
      - {{ claim: sub, header: x-user-id }}
    forward_token: {forward_token}
rules:
  - name: api
    match: {{ path_prefix: /api }}
    require: {{ providers: [q] }}
"#
    );
    policy(&yaml, vec![hmac_keys(SECRET_A)])
}

// ---------------------------------------------------------------------------
// Requests and decisions
// ---------------------------------------------------------------------------

/// Owned headers; [`Headers::request`] borrows them into an [`HttpRequest`].
struct Headers(Vec<(&'static str, String)>);

impl Headers {
    fn new(headers: &[(&'static str, &str)]) -> Self {
        Headers(headers.iter().map(|(n, v)| (*n, v.to_string())).collect())
    }

    fn bearer(token: &str) -> Self {
        Headers(vec![("authorization", format!("Bearer {token}"))])
    }

    fn none() -> Self {
        Headers(Vec::new())
    }

    fn with(mut self, name: &'static str, value: &str) -> Self {
        self.0.push((name, value.to_owned()));
        self
    }

    fn request<'a>(&'a self, path: &'a str) -> HttpRequest<'a> {
        HttpRequest {
            method: "GET",
            host: "service.example",
            path,
            headers: self.0.iter().map(|(n, v)| (*n, v.as_bytes())).collect(),
            context_extensions: None,
        }
    }
}

fn decide(policy: &Policy, path: &str, headers: &Headers) -> Decision {
    evaluate(policy, &headers.request(path), NOW)
}

/// Unwraps an allow and checks the invariants every allow must satisfy.
#[track_caller]
fn expect_allow(case: &str, decision: Decision) -> Allow {
    let allow = match decision {
        Decision::Allow(allow) => allow,
        Decision::Deny(deny) => panic!("[{case}] expected allow, got deny {deny:?}"),
    };
    for (name, value) in &allow.set_headers {
        assert!(
            !allow.remove_headers.contains(name),
            "[{case}] header `{name}` is both set and removed: {allow:#?}"
        );
        assert_eq!(
            allow.set_headers.iter().filter(|(n, _)| n == name).count(),
            1,
            "[{case}] header `{name}` set twice: {:?}",
            allow.set_headers
        );
        assert_eq!(name.to_ascii_lowercase(), **name, "[{case}] header name `{name}` not lower-cased");
        assert!(
            value.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f)),
            "[{case}] header `{name}` carries a control character: {value:?}"
        );
    }
    assert_eq!(allow.provider.is_some(), allow.token.is_some(), "[{case}] provider and token go together");
    allow
}

#[track_caller]
fn expect_deny(case: &str, decision: Decision) -> Deny {
    match decision {
        Decision::Deny(deny) => deny,
        Decision::Allow(allow) => panic!("[{case}] expected deny, got allow {allow:#?}"),
    }
}

fn header<'a>(allow: &'a Allow, name: &str) -> Option<&'a str> {
    allow.set_headers.iter().find(|(n, _)| &**n == name).map(|(_, v)| v.as_str())
}

fn removes(allow: &Allow, name: &str) -> bool {
    allow.remove_headers.iter().any(|h| &**h == name)
}

fn label(value: &Option<Arc<str>>) -> Option<&str> {
    value.as_deref()
}

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
        assert_eq!(deny.reason.grpc_code(), 16, "[{case}]");
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
    assert_eq!(verified.payload_b64, token.split('.').nth(1).unwrap());
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
        assert_eq!(deny.reason.grpc_code(), 16, "[{case}]");
        assert_eq!(label(&deny.rule), Some("only-a"), "[{case}] rule label");
        assert_eq!(label(&deny.provider), provider, "[{case}] provider label");
        let challenge = deny.reason.www_authenticate().unwrap_or_default();
        assert!(challenge.contains(r#"error="invalid_token""#), "[{case}] challenge {challenge}");
    }
}

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
    assert_eq!(deny.reason.grpc_code(), 3);
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
        assert_eq!(deny.reason.grpc_code(), 14, "[{case}]");
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
        assert_eq!(deny.reason.grpc_code(), 7, "[{case}]");
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
