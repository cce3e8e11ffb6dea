//! The same request through every front door of one gatehouse — gRPC and
//! the HTTP check listener's Envoy, nginx and Traefik paths — gets the same
//! decision, status, `WWW-Authenticate`, body and identity headers.

use std::collections::BTreeMap;

use gatehouse::internals::wire::check_response::HttpResponse;
use gatehouse::internals::wire::CheckResponse;
use gatehouse_testkit::stack::raw_request;
use gatehouse_testkit::{inline_jwks, request, Gatehouse};

use super::*;

const HOST: &str = "shop.test";

/// What a front door answered, in the terms every door shares.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    status: u16,
    /// `x-user-*` headers an allow sets.
    identity: BTreeMap<String, String>,
    /// Headers an allow strips (gRPC and Envoy only: nginx and Traefik strip by their configs).
    removed: Option<Vec<String>>,
    challenge: Option<String>,
    body: Option<Value>,
}

fn from_grpc(response: &CheckResponse) -> Outcome {
    match response.http_response.as_ref().expect("an http response") {
        HttpResponse::OkResponse(ok) => {
            let identity = ok
                .headers
                .iter()
                .filter_map(|h| h.header.as_ref())
                .map(|h| (h.key.to_lowercase(), h.value.clone()));
            let mut removed: Vec<String> = ok.headers_to_remove.clone();
            removed.sort();
            Outcome {
                status: 200,
                identity: identity.collect(),
                removed: Some(removed),
                challenge: None,
                body: None,
            }
        }
        HttpResponse::DeniedResponse(denied) => {
            let header = |name: &str| {
                denied
                    .headers
                    .iter()
                    .filter_map(|h| h.header.as_ref())
                    .find(|h| h.key == name)
                    .map(|h| h.value.clone())
            };
            Outcome {
                status: denied.status.as_ref().map_or(0, |s| s.code as u16),
                identity: BTreeMap::new(),
                removed: None,
                challenge: header("www-authenticate"),
                body: serde_json::from_str(&denied.body).ok(),
            }
        }
    }
}

fn from_http(reply: &Reply, door: &str) -> Outcome {
    let status = match reply.header("x-gatehouse-status") {
        Some(real) => real.parse().expect("a status"),
        None => reply.status,
    };
    if status == 200 {
        let identity = reply.headers.iter().filter(|(k, _)| k.starts_with("x-user-")).cloned().collect();
        let removed = (door == "envoy").then(|| {
            let list = reply.header("x-envoy-auth-headers-to-remove").unwrap_or_default();
            let mut names: Vec<String> =
                list.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect();
            names.sort();
            names
        });
        return Outcome { status, identity, removed, challenge: None, body: None };
    }
    let body = reply.header("x-gatehouse-body").unwrap_or(&reply.body);
    Outcome {
        status,
        identity: BTreeMap::new(),
        removed: None,
        challenge: reply.header("www-authenticate").map(str::to_owned),
        body: serde_json::from_str(body).ok(),
    }
}

/// The request as Envoy's gRPC client sends it: repeated headers joined with `,`.
fn grpc_headers(headers: &[(&'static str, String)]) -> Vec<(String, String)> {
    let mut merged: Vec<(String, String)> = Vec::new();
    for (name, value) in headers {
        let name = name.to_lowercase();
        match merged.iter_mut().find(|(n, _)| *n == name) {
            Some((_, joined)) => *joined = format!("{joined},{value}"),
            None => merged.push((name, value.clone())),
        }
    }
    merged
}

async fn through_doors(gatehouse: &mut Gatehouse, case: &Case) -> Vec<(&'static str, Outcome)> {
    let merged = grpc_headers(&case.headers);
    let mut headers: Vec<(&str, &str)> = merged.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    headers.push(("host", HOST));
    let mut check = request(case.method, case.target, &headers);
    check.attributes.as_mut().unwrap().request.as_mut().unwrap().http.as_mut().unwrap().host =
        HOST.to_owned();
    let grpc = from_grpc(&gatehouse.check(check).await);

    let listener = gatehouse.http_check.expect("http_check_addr is configured");
    let client: Vec<(&str, &str)> = case.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // Envoy's host is the check request's own (`raw_request` sends the listener's).
    let envoy_target = format!("/v1/check/envoy{}", case.target);
    let envoy = raw_request(listener, case.method, &envoy_target, &client).await;

    // nginx replaces a client's X-Original-* with its own (proxy_set_header).
    let mut nginx_headers: Vec<(&str, &str)> =
        client.iter().copied().filter(|(k, _)| !k.to_ascii_lowercase().starts_with("x-original-")).collect();
    nginx_headers.extend([
        ("x-original-method", case.method),
        ("x-original-uri", case.target),
        ("x-original-host", HOST),
    ]);
    let nginx = raw_request(listener, "GET", "/v1/check/nginx", &nginx_headers).await;

    // Traefik overwrites a client's X-Forwarded-* (trustForwardHeader: false).
    let mut traefik_headers: Vec<(&str, &str)> = client
        .iter()
        .copied()
        .filter(|(k, _)| {
            !k.eq_ignore_ascii_case("x-forwarded-uri") && !k.eq_ignore_ascii_case("x-forwarded-method")
        })
        .collect();
    traefik_headers.extend([
        ("x-forwarded-method", case.method),
        ("x-forwarded-uri", case.target),
        ("x-forwarded-host", HOST),
        ("x-forwarded-proto", "https"),
    ]);
    let traefik = raw_request(listener, "GET", "/v1/check/traefik", &traefik_headers).await;
    vec![
        ("grpc", grpc),
        ("envoy", from_http(&envoy, "envoy")),
        ("nginx", from_http(&nginx, "nginx")),
        ("traefik", from_http(&traefik, "traefik")),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_front_door_decides_every_case_alike() {
    let key = es256_key("k1");
    let inline = format!("inline: '{}'", inline_jwks(&[&key]));
    let yaml = format!(
        "server: {{ http_check_addr: \"127.0.0.1:0\" }}\n{}",
        STACK_CONFIG.replace(r#"uri: "{JWKS_URI}", refresh_interval: 5m"#, &inline)
    );
    let mut gatehouse = Gatehouse::start(&yaml).await;
    let mut cases = cases(&key);
    cases.push(Case {
        what: "CORS preflight",
        method: "OPTIONS",
        target: "/orders/1",
        headers: vec![
            ("origin", "https://app.test".into()),
            ("access-control-request-method", "POST".into()),
        ],
        expect: Expect::App(None),
    });
    for case in &cases {
        let outcomes = through_doors(&mut gatehouse, case).await;
        let (_, grpc) = &outcomes[0];
        for (door, outcome) in &outcomes[1..] {
            let (mut expected, mut got) = (grpc.clone(), outcome.clone());
            if *door != "envoy" {
                expected.removed = None;
                got.removed = None;
            }
            assert_eq!(got, expected, "{}: {door} differs from gRPC", case.what);
        }
        // And the decision is the one the proxies are held to.
        match case.expect {
            Expect::App(user) => {
                assert_eq!(grpc.status, 200, "{}: {grpc:?}", case.what);
                assert_eq!(grpc.identity.get("x-user-id").map(String::as_str), user, "{}", case.what);
            }
            Expect::Denied(status, error, _) => {
                assert_eq!(grpc.status, status, "{}: {grpc:?}", case.what);
                assert_eq!(
                    grpc.body.as_ref().and_then(|b| b["error"].as_str()),
                    Some(error),
                    "{}",
                    case.what
                );
            }
            Expect::Refused(status) => assert_eq!(grpc.status, status, "{}: {grpc:?}", case.what),
        }
    }
    // Without its original-request headers a door denies (400), never allows;
    // a path that is no door is no check at all.
    let listener = gatehouse.http_check.unwrap();
    let token = bearer(&token_with(&key, json!({ "scope": "orders:read" })));
    let nginx = raw_request(listener, "GET", "/v1/check/nginx", &[("authorization", &token)]).await;
    assert_eq!((nginx.status, nginx.header("x-gatehouse-status")), (403, Some("400")), "{nginx:?}");
    let partial =
        [("authorization", token.as_str()), ("x-forwarded-uri", "/orders/1"), ("x-forwarded-method", "GET")];
    let traefik = raw_request(listener, "GET", "/v1/check/traefik", &partial).await;
    assert_eq!(traefik.status, 400, "no X-Forwarded-Host or -Proto: {traefik:?}");
    let elsewhere = raw_request(listener, "GET", "/orders/1", &[("authorization", &token)]).await;
    assert_eq!(elsewhere.status, 404, "{elsewhere:?}");
    let metrics = gatehouse_testkit::ops::metrics(gatehouse.http).await;
    // Every Check counted under its front door (the two refused above included).
    for (mode, refused) in [("grpc", 0), ("envoy_http", 0), ("nginx", 1), ("traefik", 1)] {
        let label = format!("mode=\"{mode}\"");
        let total = gatehouse_testkit::ops::sum_metric(&metrics, "gatehouse_check_requests_total", &[&label]);
        assert_eq!(total, (cases.len() + refused) as f64, "{mode}: {metrics}");
    }
}
