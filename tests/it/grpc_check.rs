//! Check over real gRPC against an in-process gatehouse on 127.0.0.1:0.

use gatehouse_testkit::*;
use prost_types::value::Kind;
use serde_json::json;

struct Fixture {
    key: SigningKey,
    gatehouse: Gatehouse,
    _dir: tempfile::TempDir,
}

fn config(key: &SigningKey, secret_file: &std::path::Path) -> String {
    let jwks = jwks_json(&[key]).replace('\n', "");
    format!(
        r#"
providers:
  - name: corp
    issuer: {ISSUER}
    audiences: [orders-api]
    algorithms: [ES256]
    jwks: {{ inline: '{jwks}' }}
    claims_to_headers:
      - {{ claim: sub, header: x-user-id }}
      - {{ claim: email, header: x-user-email }}
      - {{ claim: org.id, header: x-org-id }}
    payload_header: x-jwt-payload
  - name: internal
    issuer: https://internal.test
    algorithms: [HS256]
    hmac_secret: {{ file: {secret} }}
    claims_to_headers:
      - {{ claim: sub, header: x-service }}
rules:
  - match: {{ path_prefix: /public }}
    allow: anonymous
  - match: {{ path_prefix: /internal }}
    require: {{ providers: [internal] }}
  - match: {{ path_prefix: /api }}
    require: {{ providers: [corp] }}
dynamic_metadata: {{ claims: [sub, iss, org.id], all_claims: true }}
"#,
        secret = secret_file.display()
    )
}

async fn fixture() -> Fixture {
    let key = SigningKey::generate(Algorithm::ES256, "k1").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("hs.secret");
    std::fs::write(&secret, "0123456789abcdef0123456789abcdef\n").unwrap();
    let gatehouse = Gatehouse::start(&config(&key, &secret)).await;
    Fixture { key, gatehouse, _dir: dir }
}

#[tokio::test]
async fn every_allow_and_deny_case_over_grpc() {
    let mut f = fixture().await;
    let good = f.key.mint(&claims(json!({"org": {"id": "acme"}}))).unwrap();

    // No token: 401 with a bare challenge and a JSON body.
    let response = f.gatehouse.check(request("GET", "/api/orders", &[])).await;
    let (status, code, deny) = denied(&response);
    assert_eq!((status, code), (401, 16));
    assert_eq!(header(&deny.headers, "www-authenticate"), Some("Bearer realm=\"gatehouse\""));
    assert_eq!(header(&deny.headers, "content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_str(&deny.body).unwrap();
    assert_eq!(body["error"], "unauthorized");

    // Valid token: identity headers overwrite, token and unused identity headers removed.
    let response =
        f.gatehouse.check(request("GET", "/api/orders?page=2", &[("authorization", &bearer(&good))])).await;
    let ok = ok(&response);
    assert_overwrites(ok);
    assert_eq!(header(&ok.headers, "x-user-id"), Some("alice"));
    assert_eq!(header(&ok.headers, "x-org-id"), Some("acme"));
    assert_eq!(header(&ok.headers, "x-jwt-payload"), good.split('.').nth(1));
    for removed in ["authorization", "x-user-email", "x-service"] {
        assert!(ok.headers_to_remove.iter().any(|h| h == removed), "{removed} not removed: {ok:?}");
    }
    let metadata = response.dynamic_metadata.as_ref().unwrap();
    let field = |name: &str| match metadata.fields.get(name).and_then(|v| v.kind.as_ref()) {
        Some(Kind::StringValue(s)) => s.clone(),
        other => panic!("metadata {name}: {other:?}"),
    };
    assert_eq!(field("sub"), "alice");
    assert_eq!(field("provider"), "corp");
    assert_eq!(field("iss"), ISSUER);
    assert_eq!(field("org.id"), "acme");
    assert_eq!(field("rule"), "rules[2]");
    match &metadata.fields["claims"].kind {
        Some(Kind::StructValue(all)) => assert_eq!(all.fields.len(), 6, "every claim: {all:?}"),
        other => panic!("claims: {other:?}"),
    }

    // Bad tokens: each a 401 invalid_token with a description.
    let other_key = SigningKey::generate(Algorithm::ES256, "k1").unwrap();
    let cases = [
        ("expired", f.key.mint(&claims(json!({"exp": unix_now() - 3600}))).unwrap(), "token has expired"),
        (
            "not yet valid",
            f.key.mint(&claims(json!({"nbf": unix_now() + 3600}))).unwrap(),
            "token is not yet valid",
        ),
        ("bad signature", other_key.mint(&claims(json!({}))).unwrap(), "signature is invalid"),
        (
            "wrong audience",
            f.key.mint(&claims(json!({"aud": "billing"}))).unwrap(),
            "token audience is not accepted",
        ),
        (
            "wrong issuer",
            f.key.mint(&claims(json!({"iss": "https://evil"}))).unwrap(),
            "token issuer is not accepted",
        ),
        (
            "unknown kid",
            f.key
                .sign_raw(br#"{"alg":"ES256","kid":"zz"}"#, claims(json!({})).to_string().as_bytes())
                .unwrap(),
            "no key matches the token's key id",
        ),
        (
            "alg none",
            format!("eyJhbGciOiJub25lIn0.{}.", good.split('.').nth(1).unwrap()),
            "token algorithm is not accepted",
        ),
        ("garbage", "not-a-jwt".to_owned(), "token is malformed"),
        ("jwe", "a.b.c.d.e".to_owned(), "encrypted tokens are not accepted"),
        ("too large", "a".repeat(9000), "token is larger than allowed"),
    ];
    for (name, token, description) in cases {
        let response =
            f.gatehouse.check(request("GET", "/api/orders", &[("authorization", &bearer(&token))])).await;
        let (status, code, deny) = denied(&response);
        assert_eq!((status, code), (401, 16), "{name}");
        let challenge = header(&deny.headers, "www-authenticate").unwrap();
        assert!(
            challenge.starts_with("Bearer realm=\"gatehouse\", error=\"invalid_token\""),
            "{name}: {challenge}"
        );
        let body: serde_json::Value = serde_json::from_str(&deny.body).unwrap();
        assert_eq!(body["error_description"], description, "{name}");
        assert!(
            !deny.body.contains(&token[..token.len().min(20)]) || token.len() < 12,
            "{name}: body echoes the token"
        );
    }

    // `alg: none` with a made-up signature segment is refused as an algorithm too.
    let none = format!("eyJhbGciOiJub25lIn0.{}.c2ln", good.split('.').nth(1).unwrap());
    let response = f.gatehouse.check(request("GET", "/api/x", &[("authorization", &bearer(&none))])).await;
    let (status, _, deny) = denied(&response);
    assert_eq!(status, 401);
    assert!(deny.body.contains("algorithm is not accepted"), "{}", deny.body);
    f.gatehouse.stop().await;
}

#[tokio::test]
async fn identity_headers_cannot_be_spoofed() {
    let mut f = fixture().await;
    let good = f.key.mint(&claims(json!({}))).unwrap();
    // Anonymous route: a forged identity is stripped and nothing is set, even with a token present.
    let forged = [("x-user-id", "admin"), ("x-org-id", "root"), ("authorization", "Bearer garbage")];
    let response = f.gatehouse.check(request("GET", "/public/info", &forged)).await;
    let anonymous = ok(&response);
    assert!(anonymous.headers.is_empty(), "{anonymous:?}");
    for name in ["x-user-id", "x-user-email", "x-org-id", "x-jwt-payload", "x-service"] {
        assert!(
            anonymous.headers_to_remove.iter().any(|h| h == name),
            "{name} not removed on anonymous allow"
        );
    }
    // Authenticated route: the forged value is overwritten by the token's sub.
    let auth = bearer(&good);
    let response = f
        .gatehouse
        .check(request("GET", "/api/me", &[("x-user-id", "admin"), ("authorization", &auth)]))
        .await;
    let allowed = ok(&response);
    assert_overwrites(allowed);
    assert_eq!(header(&allowed.headers, "x-user-id"), Some("alice"));
    assert!(
        allowed.headers_to_remove.iter().any(|h| h == "x-org-id"),
        "claim-less identity header must be removed"
    );
    f.gatehouse.stop().await;
}

#[tokio::test]
async fn raw_header_map_is_read_like_headers() {
    let mut f = fixture().await;
    let good = f.key.mint(&claims(json!({}))).unwrap();
    let auth = bearer(&good);
    let response =
        f.gatehouse.check(raw_request("GET", "/api/x", &[("authorization", auth.as_bytes())])).await;
    assert_eq!(header(&ok(&response).headers, "x-user-id"), Some("alice"));

    // Two Authorization entries (not merged with header_map) are refused.
    let other = bearer(&f.key.mint(&claims(json!({"sub": "mallory"}))).unwrap());
    let response = f
        .gatehouse
        .check(raw_request(
            "GET",
            "/api/x",
            &[("authorization", auth.as_bytes()), ("authorization", other.as_bytes())],
        ))
        .await;
    let (status, code, deny) = denied(&response);
    assert_eq!((status, code), (400, 3));
    assert!(header(&deny.headers, "www-authenticate").unwrap().contains("invalid_request"));
    // The merged form of the same thing is refused too.
    let merged = format!("{auth},{other}");
    let (status, ..) =
        denied(&f.gatehouse.check(request("GET", "/api/x", &[("authorization", &merged)])).await);
    assert_eq!(status, 400);

    // Non-UTF-8 bytes: a clean deny, no panic.
    let response =
        f.gatehouse.check(raw_request("GET", "/api/x", &[("authorization", b"Bearer \xff\xfe\x00")])).await;
    assert_eq!(denied(&response).0, 400);
    f.gatehouse.stop().await;
}

#[tokio::test]
async fn hmac_provider_and_provider_pinning() {
    let mut f = fixture().await;
    let hs = SigningKey::from_json(
        &json!({"alg": "HS256", "kid": "h", "secret": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="})
            .to_string(),
    )
    .unwrap();
    let service =
        hs.mint(&json!({"iss": "https://internal.test", "sub": "billing", "exp": unix_now() + 60})).unwrap();
    let response =
        f.gatehouse.check(request("POST", "/internal/jobs", &[("authorization", &bearer(&service))])).await;
    assert_eq!(header(&ok(&response).headers, "x-service"), Some("billing"));
    // The internal service token is not accepted on the corp route, and vice versa.
    let (status, ..) =
        denied(&f.gatehouse.check(request("GET", "/api/x", &[("authorization", &bearer(&service))])).await);
    assert_eq!(status, 401);
    let corp = f.key.mint(&claims(json!({}))).unwrap();
    let (status, ..) =
        denied(&f.gatehouse.check(request("GET", "/internal/x", &[("authorization", &bearer(&corp))])).await);
    assert_eq!(status, 401);
    // An RS/ES token relabelled HS256 (algorithm confusion) is refused.
    let payload = corp.split('.').nth(1).unwrap();
    let confused = format!("eyJhbGciOiJIUzI1NiJ9.{payload}.{}", corp.split('.').nth(2).unwrap());
    let (status, ..) =
        denied(&f.gatehouse.check(request("GET", "/api/x", &[("authorization", &bearer(&confused))])).await);
    assert_eq!(status, 401);
    f.gatehouse.stop().await;
}

#[tokio::test]
async fn garbage_input_gets_a_clean_deny() {
    let mut f = fixture().await;
    let empty = gatehouse::internals::wire::CheckRequest::default();
    let (status, code, _) = denied(&f.gatehouse.check(empty).await);
    assert_eq!((status, code), (400, 3));
    // No rule matches.
    let response = f.gatehouse.check(request("GET", "/elsewhere", &[])).await;
    let (status, code, deny) = denied(&response);
    assert_eq!((status, code), (403, 7));
    assert!(deny.body.contains("no_matching_rule"));
    for path in ["", "*", "%", "/api\0", "//api//x", "/api/../public"] {
        let response = f.gatehouse.check(request("GET", path, &[("authorization", "Bearer ...")])).await;
        assert!(response.status.is_some(), "{path}");
    }
    let weird = [("authorization", "Bearer a.b.c"), ("cookie", ";;==;"), ("x", "\u{7f}")];
    let (status, ..) = denied(&f.gatehouse.check(request("GET", "/api/x", &weird)).await);
    assert_eq!(status, 401);
    // The server is still serving after all of that.
    let (status, _) = f.gatehouse.http_get("/healthz").await;
    assert_eq!(status, 200);
    f.gatehouse.stop().await;
}

#[tokio::test]
async fn metrics_and_readiness_endpoints() {
    let mut f = fixture().await;
    let (status, body) = f.gatehouse.http_get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    f.gatehouse.check(request("GET", "/api/x", &[])).await;
    let (status, body) = f.gatehouse.http_get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        body.lines().any(|l| l.starts_with("gatehouse_check_requests_total{")
            && l.contains("decision=\"deny\"")
            && l.contains("reason=\"missing_token\"")
            && l.ends_with(" 1")),
        "{body}"
    );
    f.gatehouse.stop().await;
}
