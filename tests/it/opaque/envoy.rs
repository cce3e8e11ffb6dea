//! Opaque tokens end to end through the real Envoy (`deploy/envoy/sidecar.yaml`)
//! in front of the built binary: an introspected token allowed with its
//! identity headers and denied when inactive or short of a scope, and a JWT
//! and an opaque token of two providers passing the same route.

use gatehouse_testkit::stack::{upstream_saw, Stack, StackOptions};
use gatehouse_testkit::*;
use serde_json::json;

const CONFIG: &str = r#"
providers:
  - name: corp
    issuer: https://idp.test
    audiences: [orders-api]
    jwks: { uri: "{JWKS_URI}" }
    claims_to_headers: [{ claim: sub, header: x-user-id }]
  - name: as
    issuer: https://as.test
    audiences: [orders-api]
    introspection:
      endpoint: "{INTROSPECTION_URI}"
      client_id: gatehouse
      client_secret: { file: "{CLIENT_SECRET_FILE}" }
      wait: 400ms
    claims_to_headers: [{ claim: sub, header: x-user-id }, { claim: client_id, header: x-client-id }]
rules:
  - match: { path_prefix: /orders }
    require: { providers: [corp, as], scopes_all: [orders:read] }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opaque_and_jwt_tokens_through_envoy() {
    let corp = es256_key("k1");
    let stack = Stack::start(StackOptions::new("sidecar.yaml", CONFIG, jwks_json(&[&corp]))).await;
    let opaque = opaque_token();
    stack.idp.answer(&opaque, active_answer(json!({ "sub": "opaque-user" })));
    let jwt = token_with(&corp, json!({ "sub": "jwt-user", "scope": "orders:read" }));

    for (credential, user) in [(&opaque, "opaque-user"), (&jwt, "jwt-user")] {
        let reply =
            stack.get("/orders/1", &[("authorization", &bearer(credential)), ("x-user-id", "forged")]).await;
        assert_eq!(reply.status, 200, "{user}: {reply:?}");
        assert!(reply.is_from_upstream(), "{reply:?}");
        let saw = upstream_saw(&reply.body);
        assert_eq!(saw["x-user-id"], user, "{saw}");
        assert!(saw.get("authorization").is_none(), "the token stays at the edge: {saw}");
    }
    let saw = upstream_saw(&stack.get("/orders/1", &[("authorization", &bearer(&opaque))]).await.body);
    assert_eq!(saw["x-client-id"], "web", "{saw}");
    assert_eq!(stack.idp.introspections(), 1, "the second Check of the opaque token is a cache hit");

    let inactive = opaque_token();
    let reply = stack.get("/orders/1", &[("authorization", &bearer(&inactive))]).await;
    assert_eq!((reply.status, reply.error()), (401, "invalid_token".to_owned()), "{reply:?}");
    assert!(
        reply.header("www-authenticate").unwrap_or_default().contains("token is not active"),
        "{reply:?}"
    );

    let scopeless = opaque_token();
    stack.idp.answer(&scopeless, active_answer(json!({ "scope": "profile" })));
    let reply = stack.get("/orders/1", &[("authorization", &bearer(&scopeless))]).await;
    assert_eq!((reply.status, reply.error()), (403, "insufficient_scope".to_owned()), "{reply:?}");
    assert!(!reply.is_from_upstream());
}
