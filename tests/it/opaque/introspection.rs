//! Opaque tokens through RFC 7662 introspection: answers decide as a JWT's
//! claims would, both client authentication methods, discovery, a JWT and
//! an opaque token on one route, and a server that is down, hangs or
//! answers garbage.

use std::time::{Duration, Instant};

use gatehouse_testkit::idp::{ClientAuth, Discovery, Idp, Introspection, Mode, CLIENT_SECRET};
use gatehouse_testkit::*;
use serde_json::json;

use super::{check_bearer, outcome};

/// An IdP answering introspection, a gatehouse in front of it and the corp key.
pub(super) struct Setup {
    pub(super) idp: Idp,
    pub(super) gatehouse: Gatehouse,
    pub(super) corp: SigningKey,
    _dir: tempfile::TempDir,
}

impl Setup {
    /// `settings` go inside `introspection:`, `provider` inside the `as` provider.
    pub(super) async fn start(settings: &str, provider: &str) -> Setup {
        Self::start_with(settings, provider, "").await
    }

    pub(super) async fn start_with(settings: &str, provider: &str, limits: &str) -> Setup {
        let idp = Idp::start(Mode::Fail).await;
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("client-secret");
        std::fs::write(&secret, format!("{CLIENT_SECRET}\n")).unwrap();
        let corp = es256_key("corp-1");
        let mut yaml =
            config::introspection_config(&corp, &idp.introspection_uri(), &secret, settings, provider);
        yaml.push_str(limits);
        let gatehouse = Gatehouse::start(&yaml).await;
        Setup { idp, gatehouse, corp, _dir: dir }
    }

    /// A new opaque token the server will answer `answer` for.
    pub(super) fn token(&self, answer: serde_json::Value) -> String {
        let token = opaque_token();
        self.idp.answer(&token, answer);
        token
    }

    pub(super) async fn check(&mut self, path: &str, token: &str) -> String {
        check_bearer(&mut self.gatehouse, path, token).await
    }
}

#[tokio::test]
async fn introspection_answers_decide_as_a_jwts_claims_would() {
    let mut setup = Setup::start("wait: 2s", "").await;
    let now = unix_now();
    let active = setup.token(active_answer(json!({})));
    let response =
        setup.gatehouse.check(request("GET", "/api/orders", &[("authorization", &bearer(&active))])).await;
    let allowed = ok(&response);
    assert_eq!(header(&allowed.headers, "x-user-id"), Some("alice"));
    assert_eq!(header(&allowed.headers, "x-client-id"), Some("web"), "any member of the answer is a claim");
    assert_eq!(setup.idp.last_client_auth(), Some(ClientAuth::Basic), "client_secret_basic is the default");

    for (what, answer, expected) in [
        ("inactive", json!({ "active": false }), "inactive_token 401"),
        ("expired", active_answer(json!({ "exp": now - 600 })), "expired 401"),
        ("another audience", active_answer(json!({ "aud": "billing-api" })), "wrong_audience 401"),
        ("another issuer", active_answer(json!({ "iss": "https://elsewhere.test" })), "wrong_issuer 401"),
        ("not yet valid", active_answer(json!({ "nbf": now + 600 })), "not_yet_valid 401"),
        (
            "`active` as a string",
            json!({ "active": "true", "sub": "mallory" }),
            "introspection_unavailable 503",
        ),
    ] {
        let token = setup.token(answer);
        assert_eq!(setup.check("/api/orders", &token).await, expected, "{what}");
    }
    // `iss` is checked only when the answer has one (RFC 7662 makes it optional).
    let no_iss = setup.token(active_answer(json!({ "iss": null })));
    assert_eq!(setup.check("/api/orders", &no_iss).await, "allow alice");
    // Scopes: the answer's `scope` string, as a JWT's.
    assert_eq!(setup.check("/admin/users", &active).await, "insufficient_scope 403");
    let admin = setup.token(active_answer(json!({ "scope": "orders:read admin", "sub": "root" })));
    assert_eq!(setup.check("/admin/users", &admin).await, "allow root");
    // A token the server never issued.
    assert_eq!(setup.check("/api/orders", &opaque_token()).await, "inactive_token 401");

    let response =
        setup.gatehouse.check(request("GET", "/api/x", &[("authorization", &bearer("op_unknown"))])).await;
    let (_, _, deny) = denied(&response);
    let challenge = header(&deny.headers, "www-authenticate").unwrap();
    assert!(challenge.contains(r#"error="invalid_token""#), "{challenge}");
    setup.gatehouse.stop().await;
}

#[tokio::test]
async fn client_secret_post_sends_the_credentials_in_the_form() {
    let mut setup = Setup::start("wait: 2s, auth_method: client_secret_post", "").await;
    let token = setup.token(active_answer(json!({})));
    assert_eq!(setup.check("/api/orders", &token).await, "allow alice");
    assert_eq!(setup.idp.last_client_auth(), Some(ClientAuth::Post));
    setup.gatehouse.stop().await;
}

#[tokio::test]
async fn a_jwt_and_an_opaque_token_pass_on_one_route_each_by_its_provider() {
    let mut setup = Setup::start("wait: 2s", "").await;
    let jwt = token_with(&setup.corp, json!({ "sub": "jwt-user" }));
    let opaque = setup.token(active_answer(json!({ "sub": "opaque-user" })));
    assert_eq!(setup.check("/api/orders", &jwt).await, "allow jwt-user");
    assert_eq!(setup.check("/api/orders", &opaque).await, "allow opaque-user");
    assert_eq!(setup.idp.introspections(), 1, "the JWT is verified by its signature, never sent away");
    // A JWT the corp keys do not verify is not sent to the server either.
    let forged = token_with(&random_key(), json!({}));
    assert_eq!(setup.check("/api/orders", &forged).await, "unknown_kid 401");
    assert_eq!(setup.idp.introspections(), 1);
    setup.gatehouse.stop().await;
}

#[tokio::test]
async fn discovery_finds_the_introspection_endpoint_in_the_issuers_metadata() {
    let idp = Idp::start(Mode::Fail).await;
    let issuer = idp.base_url();
    idp.set_discovery(Discovery::Document { issuer: issuer.clone(), jwks_uri: idp.uri() });
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, CLIENT_SECRET).unwrap();
    let yaml = format!(
        r#"
providers:
  - name: as
    issuer: "{issuer}"
    introspection: {{ discovery: true, client_id: gatehouse, client_secret: {{ file: "{}" }}, wait: 2s }}
    claims_to_headers: [{{ claim: sub, header: x-user-id }}]
rules:
  - match: {{ path_prefix: /api }}
    require: {{ providers: [as] }}
"#,
        secret.display()
    );
    let mut gatehouse = Gatehouse::start(&yaml).await;
    let token = opaque_token();
    idp.answer(&token, active_answer(json!({ "iss": issuer })));
    assert_eq!(check_bearer(&mut gatehouse, "/api/x", &token).await, "allow alice");
    assert_eq!(idp.discovery_requests(), 1);
    gatehouse.stop().await;
}

/// Down, hanging or talking garbage: a token already answered keeps passing
/// until its entry expires, a new one gets 503 within the wait, never an
/// allow and never an RPC error, and the process stays ready.
#[tokio::test]
async fn a_broken_server_keeps_cached_tokens_and_turns_new_ones_away_with_503() {
    let wait = Duration::from_millis(400);
    let mut setup = Setup::start(&format!("wait: {}ms, timeout: 5s", wait.as_millis()), "").await;
    let known = setup.token(active_answer(json!({})));
    assert_eq!(setup.check("/api/orders", &known).await, "allow alice");
    let calls = setup.idp.introspections();

    for mode in [Introspection::Fail, Introspection::Garbage, Introspection::Hang] {
        setup.idp.set_introspection(mode);
        assert_eq!(setup.check("/api/orders", &known).await, "allow alice", "a cached answer still stands");
        let fresh = setup.token(active_answer(json!({})));
        let started = Instant::now();
        let response = setup
            .gatehouse
            .checker
            .check(request("GET", "/api/x", &[("authorization", &bearer(&fresh))]))
            .await;
        let elapsed = started.elapsed();
        assert_eq!(outcome(&response), "introspection_unavailable 503");
        assert!(elapsed < wait + Duration::from_secs(1), "answered after {elapsed:?}");
    }
    assert_eq!(setup.idp.introspections(), calls + 3, "one call per new token, none for the cached one");
    assert_eq!(setup.gatehouse.http_get("/readyz").await.0, 200);
    // Back up: the new token is asked about again and passes.
    setup.idp.set_introspection(Introspection::Answers);
    let fresh = setup.token(active_answer(json!({ "sub": "bob" })));
    assert_eq!(setup.check("/api/orders", &fresh).await, "allow bob");
    let text = gatehouse_testkit::ops::metrics(setup.gatehouse.http).await;
    for series in [
        r#"gatehouse_introspection_requests_total{provider="as",outcome="active"}"#,
        r#"gatehouse_introspection_requests_total{provider="as",outcome="bad_status"}"#,
        r#"gatehouse_introspection_requests_total{provider="as",outcome="invalid_response"}"#,
        r#"gatehouse_introspection_cache_lookups_total{provider="as",result="hit"}"#,
        r#"gatehouse_introspection_duration_seconds_count{provider="as"}"#,
    ] {
        assert!(
            gatehouse_testkit::ops::metric_in(&text, series).is_some_and(|n| n >= 1.0),
            "{series}\n{text}"
        );
    }
    setup.gatehouse.stop().await;
}
