//! One authorizer behind every proxy: the same requests through Envoy (gRPC
//! and `http_service`), nginx (`auth_request`) and Traefik (`forwardAuth`),
//! each running its shipped config in front of the built binary, get the
//! same answers; and the same decisions through every front door of one
//! gatehouse, request by request (`parity`).

mod parity;

use gatehouse_testkit::envoy::STACK_CONFIG;
use gatehouse_testkit::stack::{upstream_saw, Proxy, Reply, Stack, StackOptions};
use gatehouse_testkit::{bearer, es256_key, jwks_json, token_with, unix_now, SigningKey};
use serde_json::{json, Value};

/// What the client should see.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// The app answered and saw this `x-user-id` (`None`: no such header).
    App(Option<&'static str>),
    /// A gatehouse deny: status, `error`, and `WWW-Authenticate` containing this.
    Denied(u16, &'static str, Option<&'static str>),
    /// Refused before any app (by the proxy or gatehouse), with this status.
    Refused(u16),
}

struct Case {
    what: &'static str,
    method: &'static str,
    /// Sent byte for byte.
    target: &'static str,
    headers: Vec<(&'static str, String)>,
    expect: Expect,
}

fn token(key: &SigningKey, scope: &str, extra: Value) -> String {
    let mut claims = json!({ "scope": scope });
    claims.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    bearer(&token_with(key, claims))
}

/// The requests every proxy must answer alike (STACK_CONFIG's rules).
fn cases(key: &SigningKey) -> Vec<Case> {
    let reader = token(key, "orders:read", json!({}));
    let expired = token(key, "orders:read", json!({ "iat": unix_now() - 7200, "exp": unix_now() - 3600 }));
    let auth = |value: &String| vec![("authorization", value.clone())];
    let with = |mut headers: Vec<(&'static str, String)>, name: &'static str, value: &str| {
        headers.push((name, value.to_owned()));
        headers
    };
    use Expect::*;
    let case = |what, method, target, headers, expect| Case { what, method, target, headers, expect };
    vec![
        case("valid token", "GET", "/orders/1?x=1", auth(&reader), App(Some("alice"))),
        case("valid token, POST", "POST", "/orders/1", auth(&reader), App(Some("alice"))),
        case(
            "no token",
            "GET",
            "/orders/1",
            vec![],
            Denied(401, "unauthorized", Some(r#"Bearer realm="gatehouse""#)),
        ),
        case(
            "expired",
            "GET",
            "/orders/1",
            auth(&expired),
            Denied(401, "invalid_token", Some(r#"error="invalid_token""#)),
        ),
        case(
            "wrong scope",
            "GET",
            "/admin/users",
            auth(&reader),
            Denied(403, "insufficient_scope", Some("insufficient_scope")),
        ),
        case("anonymous route", "GET", "/public/info", vec![], App(None)),
        case(
            "forged identity, anonymous",
            "GET",
            "/public/info",
            with(vec![], "x-user-id", "mallory"),
            App(None),
        ),
        case(
            "forged identity, authenticated",
            "GET",
            "/orders/1",
            with(auth(&reader), "x-user-id", "mallory"),
            App(Some("alice")),
        ),
        case(
            "forged identity, other casing",
            "GET",
            "/orders/1",
            with(auth(&reader), "X-USER-ID", "mallory"),
            App(Some("alice")),
        ),
        case(
            "dot segments into /admin",
            "GET",
            "/public/../admin/users",
            vec![],
            Denied(401, "unauthorized", None),
        ),
        case(
            "encoded dots into /admin",
            "GET",
            "/public/%2e%2e/admin/users",
            vec![],
            Denied(401, "unauthorized", None),
        ),
        case("doubled slashes", "GET", "//admin//users", vec![], Denied(401, "unauthorized", None)),
        case("encoded slash", "GET", "/public%2F..%2Fadmin/users", vec![], Refused(400)),
        case(
            "forged X-Forwarded-Uri",
            "GET",
            "/admin/users",
            with(vec![], "x-forwarded-uri", "/public/x"),
            Denied(401, "unauthorized", None),
        ),
        case(
            "forged X-Original-URI",
            "GET",
            "/admin/users",
            with(vec![], "x-original-uri", "/public/x"),
            Denied(401, "unauthorized", None),
        ),
        case(
            "forged X-Forwarded-Method",
            "POST",
            "/admin/users",
            with(vec![], "x-forwarded-method", "OPTIONS"),
            Denied(401, "unauthorized", None),
        ),
        case(
            // nginx itself refuses a repeated Authorization line; the others ask gatehouse.
            "two tokens",
            "GET",
            "/orders/1",
            with(auth(&reader), "authorization", "Bearer other"),
            Refused(400),
        ),
        case(
            "malformed bearer",
            "GET",
            "/orders/1",
            vec![("authorization", "Bearer:abc".into())],
            Denied(400, "invalid_request", Some(r#"error="invalid_request""#)),
        ),
    ]
}

async fn stack(proxy: Proxy, key: &SigningKey) -> Stack {
    Stack::start(StackOptions::behind(proxy, STACK_CONFIG, jwks_json(&[key]))).await
}

fn check(case: &Case, reply: &Reply, proxy: Proxy) {
    let what = format!("{proxy:?}: {}", case.what);
    match case.expect {
        Expect::App(user) => {
            assert_eq!(reply.status, 200, "{what}: {reply:?}");
            assert!(reply.is_from_upstream(), "{what}: {reply:?}");
            let saw = upstream_saw(&reply.body);
            assert_eq!(saw.get("x-user-id").and_then(Value::as_str), user, "{what}: {saw}");
            assert!(saw.get("authorization").is_none(), "{what}: the token went upstream: {saw}");
        }
        Expect::Denied(status, error, challenge) => {
            assert_eq!(reply.status, status, "{what}: {reply:?}");
            assert!(!reply.is_from_upstream(), "{what}: {reply:?}");
            let body: Value = serde_json::from_str(&reply.body)
                .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {reply:?}"));
            assert_eq!(body["error"], error, "{what}: {reply:?}");
            if let Some(challenge) = challenge {
                let got: Vec<&str> = reply
                    .headers
                    .iter()
                    .filter(|(k, _)| k == "www-authenticate")
                    .map(|(_, v)| v.as_str())
                    .collect();
                assert_eq!(got.len(), 1, "{what}: one WWW-Authenticate: {reply:?}");
                assert!(got[0].contains(challenge), "{what}: {reply:?}");
            }
        }
        Expect::Refused(status) => {
            assert_eq!(reply.status, status, "{what}: {reply:?}");
            assert!(!reply.is_from_upstream(), "{what}: {reply:?}");
        }
    }
}

/// Every case through `proxy`, then gatehouse stopped: the proxy refuses.
async fn decides_every_case_and_fails_closed(proxy: Proxy) {
    let key = es256_key("k1");
    let mut stack = stack(proxy, &key).await;
    for case in cases(&key) {
        let headers: Vec<(&str, &str)> = case.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let reply = stack.raw(case.method, case.target, &headers).await;
        check(&case, &reply, proxy);
    }
    let hits = stack.upstream_hits();
    stack.kill_gatehouse();
    for target in ["/public/info", "/orders/1"] {
        let reply = stack.raw("GET", target, &[]).await;
        assert!(reply.status >= 403, "{proxy:?}, gatehouse down: {target}: {reply:?}");
        assert!(!reply.is_from_upstream(), "{proxy:?}, gatehouse down: {target} passed: {reply:?}");
    }
    assert_eq!(stack.upstream_hits(), hits, "{proxy:?}: nothing reached the app with gatehouse down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_grpc_decides_every_case_and_fails_closed() {
    decides_every_case_and_fails_closed(Proxy::Envoy("sidecar.yaml")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_http_service_decides_every_case_and_fails_closed() {
    decides_every_case_and_fails_closed(Proxy::EnvoyHttpService).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_auth_request_decides_every_case_and_fails_closed() {
    decides_every_case_and_fails_closed(Proxy::Nginx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traefik_forward_auth_decides_every_case_and_fails_closed() {
    decides_every_case_and_fails_closed(Proxy::Traefik).await;
}

/// STACK_CONFIG plus a provider whose keys never load (its JWKS address
/// refuses connections), required under `/down`.
fn with_unavailable_keys() -> String {
    let provider = "  - name: down\n    issuer: https://down.test\n    \
                    jwks: { uri: \"http://127.0.0.1:9/jwks\", startup_timeout: 1s, timeout: 1s }\n";
    let rule = "  - { match: { path_prefix: /down }, require: { providers: [down] } }\n";
    // The provider list ends where `rules:` begins.
    STACK_CONFIG.replacen("rules:\n", &format!("{provider}rules:\n{rule}"), 1)
}

/// gatehouse's 503 (keys unavailable) reaches the client as a 503: as sent
/// (Traefik), through the real status beside a 403 (nginx), or as Envoy's
/// `status_on_error` (which drops the body).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_from_gatehouse_reaches_the_client_as_503() {
    let key = es256_key("k1");
    let bearer = token(&key, "orders:read", json!({}));
    let of_down = token(&key, "orders:read", json!({ "iss": "https://down.test" }));
    for proxy in [Proxy::Nginx, Proxy::Traefik, Proxy::EnvoyHttpService] {
        let stack =
            Stack::start(StackOptions::behind(proxy, &with_unavailable_keys(), jwks_json(&[&key]))).await;
        let reply = stack.raw("GET", "/down/x", &[("authorization", &of_down)]).await;
        assert_eq!(reply.status, 503, "{proxy:?}: {reply:?}");
        assert!(!reply.is_from_upstream(), "{proxy:?}: {reply:?}");
        if proxy != Proxy::EnvoyHttpService {
            let body: Value = serde_json::from_str(&reply.body).unwrap();
            assert_eq!(body["error"], "temporarily_unavailable", "{proxy:?}: {reply:?}");
        }
        let reply = stack.raw("GET", "/orders/1", &[("authorization", &bearer)]).await;
        assert_eq!(reply.status, 200, "{proxy:?}: the other provider still answers: {reply:?}");
    }
}
