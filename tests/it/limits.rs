//! Resource limits: header bounds and the concurrent-Check bound, whose
//! overload answer is a 503 deny — never an allow, never an RPC error.

use std::time::Duration;

use gatehouse_testkit::idp::{Idp, Mode};
use gatehouse_testkit::*;

fn config(uri: &str, limits: &str) -> String {
    format!(
        r#"
providers:
  - name: corp
    issuer: https://idp.test
    algorithms: [ES256]
    jwks: {{ uri: "{uri}", timeout: 3s, refresh_interval: 5m }}
rules:
  - match: {{ path_prefix: / }}
    require: {{}}
limits: {limits}
"#
    )
}

#[tokio::test]
async fn over_the_concurrency_bound_a_check_is_denied_with_503() {
    let key = SigningKey::generate(Algorithm::ES256, "k1").unwrap();
    let idp = Idp::start(Mode::Serve(jwks_json(&[&key]))).await;
    // Validation refuses waiters that could hold every permit (that is what
    // `max_unknown_kid_waiters` is for); set in code, they let one Check
    // hold the only permit for as long as this test needs.
    let mut limited = specs(&config(&idp.uri(), "{}"));
    limited.set_check_bounds(1, 1, Duration::from_secs(10));
    let mut gatehouse = Gatehouse::start_specs(limited).await;
    gatehouse.wait_ready(Duration::from_secs(5)).await;
    let good = format!("Bearer {}", token(&key));
    ok(&gatehouse.check(request("GET", "/x", &[("authorization", &good)])).await);

    // A token with an unknown kid makes its Check wait on a JWKS fetch that
    // hangs (up to the 3s fetch timeout), holding the only permit.
    idp.set(Mode::Hang);
    let stranger = SigningKey::generate(Algorithm::ES256, "rotated-in").unwrap();
    let slow = format!("Bearer {}", token(&stranger));
    let mut client = gatehouse.checker.client.clone();
    let held =
        tokio::spawn(async move { client.check(request("GET", "/x", &[("authorization", &slow)])).await });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let response = gatehouse.check(request("GET", "/x", &[("authorization", &good)])).await;
    let (status, code, deny) = denied(&response);
    assert_eq!((status, code), (503, 14), "overload is a deny, not an allow and not an RPC error");
    assert!(deny.body.contains("temporarily_unavailable"), "{}", deny.body);
    assert_eq!(response.status.unwrap().message, "overloaded");

    let slow_answer = held.await.unwrap().expect("the slow Check still answers").into_inner();
    assert_eq!(denied(&slow_answer).0, 401);
    // The permit is back: the valid token passes again.
    ok(&gatehouse.check(request("GET", "/x", &[("authorization", &good)])).await);
    gatehouse.stop().await;
}

#[tokio::test]
async fn too_many_or_too_large_headers_are_refused_before_reading_them() {
    let key = SigningKey::generate(Algorithm::ES256, "k1").unwrap();
    let idp = Idp::start(Mode::Serve(jwks_json(&[&key]))).await;
    let limits = "{ max_headers: 50, max_header_bytes: 16384 }";
    let mut gatehouse = Gatehouse::start(&config(&idp.uri(), limits)).await;
    gatehouse.wait_ready(Duration::from_secs(5)).await;
    let good = format!("Bearer {}", token(&key));

    let names: Vec<String> = (0..60).map(|i| format!("x-h{i}")).collect();
    let mut many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    many.push(("authorization", &good));
    let response = gatehouse.check(request("GET", "/x", &many)).await;
    let (status, _, _) = denied(&response);
    assert_eq!(status, 400);
    assert_eq!(response.status.unwrap().message, "headers_too_large");

    let big = "a".repeat(20_000);
    let response = gatehouse.check(request("GET", "/x", &[("authorization", &good), ("x-big", &big)])).await;
    assert_eq!(denied(&response).0, 400);

    // Within the limits the same request passes.
    let few: Vec<(&str, &str)> = many.iter().skip(30).copied().collect();
    ok(&gatehouse.check(request("GET", "/x", &few)).await);
    gatehouse.stop().await;
}
