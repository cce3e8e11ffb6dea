//! End-to-end through the real Envoy (1.40, `deploy/envoy/*.yaml` rendered
//! with free ports) in front of the built gatehouse binary, the fake IdP and
//! the echo upstream. Each test asserts what the client saw and what the
//! upstream app received. Several scenarios share one stack to keep the
//! number of Envoy starts small.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use gatehouse_testkit::envoy::{deploy_config, envoy_validate, STACK_CONFIG};
use gatehouse_testkit::render::render;
use gatehouse_testkit::stack::{upstream_path, upstream_saw, Reply, Stack, StackOptions};
use gatehouse_testkit::{bearer, es256_key, jwks_json, token_with, unix_now, SigningKey};
use serde_json::{json, Value};

const LOG_WAIT: Duration = Duration::from_secs(5);

/// A valid token for `alice` with `scope`, `extra` claims merged over it.
fn token(key: &SigningKey, scope: &str, extra: Value) -> String {
    let mut claims = json!({ "scope": scope });
    claims.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    token_with(key, claims)
}

async fn stack(key: &SigningKey, values: Vec<(&'static str, String)>, template: &'static str) -> Stack {
    Stack::start(StackOptions { values, ..StackOptions::new(template, STACK_CONFIG, jwks_json(&[key])) })
        .await
}

/// 200 from the echo upstream (panics with the reply otherwise).
fn assert_upstream(reply: &Reply, what: &str) -> Value {
    assert_eq!(reply.status, 200, "{what}: {reply:?}");
    assert!(reply.is_from_upstream(), "{what}: not the upstream's answer: {reply:?}");
    upstream_saw(&reply.body)
}

/// A gatehouse deny: status, `error` in the JSON body, and `www-authenticate`.
fn assert_denied(reply: &Reply, status: u16, error: &str, what: &str) {
    assert_eq!(reply.status, status, "{what}: {reply:?}");
    assert!(!reply.is_from_upstream(), "{what}: the upstream answered: {reply:?}");
    assert_eq!(reply.error(), error, "{what}: {reply:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecar_decisions_identity_headers_paths_cors_and_access_log() {
    let k1 = es256_key("k1");
    let stack = stack(&k1, vec![], "sidecar.yaml").await;
    let reader = bearer(&token(&k1, "orders:read", json!({})));
    let admin = bearer(&token(&k1, "admin", json!({})));

    // --- no token / valid token
    let reply = stack.get("/orders/1", &[]).await;
    assert_denied(&reply, 401, "unauthorized", "no token");
    assert_eq!(reply.header("www-authenticate"), Some(r#"Bearer realm="gatehouse""#), "{reply:?}");

    let reply = stack.get("/orders/1?x=1", &[("authorization", &reader)]).await;
    let saw = assert_upstream(&reply, "valid token");
    assert_eq!(saw["x-user-id"], "alice", "{saw}");
    assert_eq!(saw["x-user-scope"], "orders:read", "{saw}");
    assert!(saw.get("authorization").is_none(), "forward_token: false must drop the token: {saw}");
    assert_eq!(upstream_path(&reply.body), "/orders/1?x=1");

    // --- bad tokens: 401 invalid_token
    let other_k1 = es256_key("k1"); // same kid, another key: the signature cannot verify
    for (what, bad) in [
        ("expired", token(&k1, "orders:read", json!({"iat": unix_now() - 7200, "exp": unix_now() - 3600}))),
        ("bad signature", token(&other_k1, "orders:read", json!({}))),
        ("wrong audience", token(&k1, "orders:read", json!({"aud": "billing-api"}))),
    ] {
        let reply = stack.get("/orders/1", &[("authorization", &bearer(&bad))]).await;
        assert_denied(&reply, 401, "invalid_token", what);
        let challenge = reply.header("www-authenticate").unwrap_or_default();
        assert!(challenge.contains(r#"error="invalid_token""#), "{what}: {reply:?}");
    }

    // --- missing scope: 403 insufficient_scope naming the scope
    let scopeless = bearer(&token(&k1, "profile", json!({})));
    let reply = stack.get("/orders/1", &[("authorization", &scopeless)]).await;
    assert_denied(&reply, 403, "insufficient_scope", "missing scope");
    let challenge = reply.header("www-authenticate").unwrap_or_default();
    assert!(challenge.contains(r#"error="insufficient_scope""#), "{reply:?}");
    assert!(challenge.contains(r#"scope="orders:read""#), "{reply:?}");

    // --- forged identity headers
    for forged in [
        vec![("x-user-id", "admin")],
        vec![("X-User-Id", "admin")],
        vec![("x-user-id", "admin"), ("X-User-Id", "root"), ("x-user-scope", "admin")],
    ] {
        let reply = stack.raw("GET", "/public/info", &forged).await;
        let saw = assert_upstream(&reply, "anonymous route with forged identity");
        assert!(saw.get("x-user-id").is_none(), "forged {forged:?} reached the upstream: {saw}");
        assert!(saw.get("x-user-scope").is_none(), "forged {forged:?} reached the upstream: {saw}");

        let mut headers = forged.clone();
        headers.push(("Authorization", &reader));
        let reply = stack.raw("GET", "/orders/1", &headers).await;
        let saw = assert_upstream(&reply, "authenticated route with forged identity");
        assert_eq!(saw["x-user-id"], "alice", "exactly the token's sub, once ({forged:?}): {saw}");
        assert_eq!(saw["x-user-scope"], "orders:read", "{forged:?}: {saw}");
    }
    // A token on an anonymous route is ignored, and not forwarded either.
    let reply = stack.get("/public/info", &[("authorization", &reader), ("x-user-id", "admin")]).await;
    let saw = assert_upstream(&reply, "anonymous route with a token");
    assert!(saw.get("x-user-id").is_none(), "{saw}");

    // --- path traversal against the protected prefix
    for target in ["/public/../admin", "/public/%2e%2e/admin", "/public/./../admin/x", "/public/%2E%2E/admin"]
    {
        let hits = stack.upstream_hits();
        let reply = stack.raw("GET", target, &[("authorization", &reader)]).await;
        assert_denied(&reply, 403, "insufficient_scope", &format!("{target} with a non-admin token"));
        assert_eq!(stack.upstream_hits(), hits, "{target} must not reach the upstream");

        let reply = stack.raw("GET", target, &[("authorization", &admin)]).await;
        let saw = assert_upstream(&reply, &format!("{target} with an admin token"));
        let path = upstream_path(&reply.body);
        assert!(path == "/admin" || path.starts_with("/admin/"), "{target} reached the upstream as {path}");
        assert_eq!(saw["x-user-id"], "alice", "{saw}");
    }
    // Encoded slashes: Envoy itself refuses them (REJECT_REQUEST), before ext_authz.
    let checks = stack.envoy_stat("http.ingress.ext_authz.ok").await
        + stack.envoy_stat("http.ingress.ext_authz.denied").await;
    for target in ["/admin%2Fx", "/public%2F..%2Fadmin", "/public/..%5Cadmin"] {
        let hits = stack.upstream_hits();
        let reply = stack.raw("GET", target, &[("authorization", &admin)]).await;
        assert_eq!(reply.status, 400, "{target}: {reply:?}");
        assert_eq!(stack.upstream_hits(), hits, "{target} must not reach the upstream");
    }
    let after = stack.envoy_stat("http.ingress.ext_authz.ok").await
        + stack.envoy_stat("http.ingress.ext_authz.denied").await;
    assert_eq!(after, checks, "Envoy rejects %2F/%5C without asking gatehouse");

    // --- CORS preflight
    let preflight = [("origin", "https://app.example.com"), ("access-control-request-method", "GET")];
    let reply = stack.request("OPTIONS", "/orders/1", &preflight).await;
    let saw = assert_upstream(&reply, "CORS preflight");
    assert!(saw.get("x-user-id").is_none(), "{saw}");
    assert_eq!(reply.json()["method"], "OPTIONS");
    let reply = stack.request("OPTIONS", "/orders/1", &[("origin", "https://app.example.com")]).await;
    assert_denied(&reply, 401, "unauthorized", "OPTIONS without Access-Control-Request-Method");
    let reply = stack.request("OPTIONS", "/orders/1", &[]).await;
    assert_denied(&reply, 401, "unauthorized", "plain OPTIONS");

    // --- dynamic metadata in Envoy's access log
    let reply = stack.get("/orders/access-log-allowed", &[("authorization", &reader)]).await;
    assert_upstream(&reply, "access log probe");
    let line = stack.access_log_line_containing("/orders/access-log-allowed", LOG_WAIT).await;
    for expected in [" 200 ", "sub=alice", "provider=corp", "rule=orders"] {
        assert!(line.contains(expected), "`{expected}` missing in: {line}");
    }
    let reply = stack.get("/orders/access-log-denied", &[]).await;
    assert_eq!(reply.status, 401);
    let line = stack.access_log_line_containing("/orders/access-log-denied", LOG_WAIT).await;
    for expected in [" 401 ", "reason=missing_token"] {
        assert!(line.contains(expected), "`{expected}` missing in: {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecar_key_rotation_under_traffic_then_gatehouse_outage_fails_closed() {
    let k1 = es256_key("rot-1");
    let k2 = es256_key("rot-2");
    let mut stack = stack(&k1, vec![], "sidecar.yaml").await;
    let t1 = bearer(&token(&k1, "orders:read", json!({})));
    let t2 = bearer(&token(&k2, "orders:read", json!({})));
    assert_upstream(&stack.get("/orders/1", &[("authorization", &t1)]).await, "before rotation");
    let fetches_before = stack.idp.requests();

    // --- key rotation at the IdP while traffic flows
    let current = Arc::new(RwLock::new((1u8, t1.clone())));
    let stop = Arc::new(AtomicBool::new(false));
    let results: Arc<Mutex<Vec<(u8, u16)>>> = Arc::default();
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let (front, current, stop, results) =
                (stack.front(), current.clone(), stop.clone(), results.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let (key, token) = current.read().unwrap().clone();
                    let reply = front.get("/orders/rotation", &[("authorization", &token)]).await;
                    if reply.status != 200 {
                        eprintln!("rotation: key {key} got {reply:?}");
                    }
                    results.lock().unwrap().push((key, reply.status));
                }
            })
        })
        .collect();
    let phase = Duration::from_millis(800);
    tokio::time::sleep(phase).await;
    // The IdP publishes the new key ahead of using it...
    stack.idp.set(gatehouse_testkit::idp::Mode::Serve(jwks_json(&[&k1, &k2])));
    tokio::time::sleep(phase).await;
    // ...then signs with it: gatehouse has never seen `rot-2` and must fetch it.
    *current.write().unwrap() = (2, t2.clone());
    tokio::time::sleep(phase * 2).await;
    // ...and finally retires the old key.
    stack.idp.set(gatehouse_testkit::idp::Mode::Serve(jwks_json(&[&k2])));
    tokio::time::sleep(phase).await;
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.expect("traffic worker");
    }
    let results = results.lock().unwrap().clone();
    let per_key = |k: u8| results.iter().filter(|(key, _)| *key == k).count();
    let failures: Vec<&(u8, u16)> = results.iter().filter(|(_, status)| *status != 200).collect();
    eprintln!(
        "rotation: {} requests ({} with the old key, {} with the new), {} not 200; IdP fetches {} -> {}",
        results.len(),
        per_key(1),
        per_key(2),
        failures.len(),
        fetches_before,
        stack.idp.requests()
    );
    assert!(per_key(1) > 0 && per_key(2) > 0, "traffic with both keys: {} / {}", per_key(1), per_key(2));
    assert!(failures.is_empty(), "valid tokens must never be refused during a rotation: {failures:?}");
    assert!(stack.idp.requests() > fetches_before, "the new kid was fetched from the IdP");

    // --- gatehouse down: Envoy fails closed (503) on every route, never 200
    let errors_before = stack.envoy_stat("http.ingress.ext_authz.error").await;
    let hits_before = stack.upstream_hits();
    stack.kill_gatehouse();
    for (path, auth) in [("/orders/1", Some(&t2)), ("/public/info", None), ("/public/info", Some(&t2))] {
        for _ in 0..3 {
            let headers: Vec<(&str, &str)> =
                auth.map(|a| ("authorization", a.as_str())).into_iter().collect();
            let reply = stack.get(path, &headers).await;
            assert_eq!(reply.status, 503, "{path} with gatehouse down (auth: {}): {reply:?}", auth.is_some());
        }
    }
    assert_eq!(stack.upstream_hits(), hits_before, "nothing reaches the upstream while gatehouse is down");
    let errors_after = stack.envoy_stat("http.ingress.ext_authz.error").await;
    assert!(errors_after >= errors_before + 9, "ext_authz.error {errors_before} -> {errors_after}");

    // --- gatehouse back on the same port: requests succeed again
    stack.restart_gatehouse().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = stack.get("/orders/1", &[("authorization", &t2)]).await;
        if reply.status == 200 {
            assert_eq!(upstream_saw(&reply.body)["x-user-id"], "alice");
            break;
        }
        assert_eq!(reply.status, 503, "while Envoy reconnects: {reply:?}");
        assert!(Instant::now() < deadline, "no 200 within 10s of the restart: {reply:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reply = stack.get("/orders/1", &[]).await;
    assert_denied(&reply, 401, "unauthorized", "after the restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecar_with_encode_raw_headers() {
    let k1 = es256_key("k1");
    let stack = stack(&k1, vec![("encode_raw_headers", "true".into())], "sidecar.yaml").await;
    let rendered = std::fs::read_to_string(&stack.proxy_config).unwrap();
    assert!(rendered.lines().any(|l| l.trim_start().starts_with("encode_raw_headers: true")), "{rendered}");
    let reader = bearer(&token(&k1, "orders:read", json!({})));

    let reply = stack.get("/orders/1", &[("authorization", &reader)]).await;
    let saw = assert_upstream(&reply, "valid token, raw headers");
    assert_eq!(saw["x-user-id"], "alice", "{saw}");
    assert!(saw.get("authorization").is_none(), "{saw}");

    let reply = stack.get("/orders/1", &[]).await;
    assert_denied(&reply, 401, "unauthorized", "no token, raw headers");

    for forged in [vec![("x-user-id", "admin")], vec![("X-User-Id", "admin"), ("x-user-id", "root")]] {
        let reply = stack.raw("GET", "/public/info", &forged).await;
        let saw = assert_upstream(&reply, "anonymous route, raw headers");
        assert!(saw.get("x-user-id").is_none(), "forged {forged:?} reached the upstream: {saw}");

        let mut headers = forged.clone();
        headers.push(("authorization", &reader));
        let reply = stack.raw("GET", "/orders/1", &headers).await;
        let saw = assert_upstream(&reply, "authenticated route, raw headers");
        assert_eq!(saw["x-user-id"], "alice", "exactly the token's sub, once ({forged:?}): {saw}");
    }

    // Two Authorization headers: one entry each in header_map → 400.
    let other = bearer(&token(&k1, "orders:read", json!({"sub": "mallory"})));
    let hits = stack.upstream_hits();
    let reply = stack.get("/orders/1", &[("authorization", &reader), ("authorization", &other)]).await;
    assert_denied(&reply, 400, "invalid_request", "two Authorization headers");
    let reply = stack.get("/orders/1", &[("authorization", &reader), ("authorization", &reader)]).await;
    assert_denied(&reply, 400, "invalid_request", "the same Authorization header twice");
    assert_eq!(stack.upstream_hits(), hits);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn central_config_with_dns_cluster_and_health_checks() {
    let k1 = es256_key("k1");
    let stack = stack(&k1, vec![("gatehouse_host", "127.0.0.1".into())], "central.yaml").await;
    let reader = bearer(&token(&k1, "orders:read", json!({})));

    // The gatehouse cluster has active gRPC health checks: until the first one
    // passes the host is unhealthy, so allow a short wait for the first 200.
    let deadline = Instant::now() + Duration::from_secs(10);
    let reply = loop {
        let reply = stack.get("/orders/1", &[("authorization", &reader)]).await;
        if reply.status == 200 || Instant::now() >= deadline {
            break reply;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let saw = assert_upstream(&reply, "central: valid token");
    assert_eq!(saw["x-user-id"], "alice", "{saw}");
    assert!(saw.get("authorization").is_none(), "{saw}");

    let reply = stack.get("/orders/1", &[]).await;
    assert_denied(&reply, 401, "unauthorized", "central: no token");
    assert_eq!(reply.header("www-authenticate"), Some(r#"Bearer realm="gatehouse""#), "{reply:?}");
    // With every host unhealthy Envoy still routes (panic threshold), so the
    // 200 above may come before the first health check has passed.
    let deadline = Instant::now() + Duration::from_secs(10);
    while stack.envoy_stat("cluster.gatehouse.health_check.success").await < 1 {
        assert!(Instant::now() < deadline, "no passing gRPC health check within 10s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn deploy_configs_pass_envoy_validate() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("sidecar-raw-headers.yaml");
    std::fs::write(&raw, render(&deploy_config("sidecar.yaml"), &[("encode_raw_headers", "true".into())]))
        .unwrap();
    let shipped = ["sidecar.yaml", "central.yaml", "http-service.yaml"].map(deploy_config);
    for config in shipped.into_iter().chain([raw]) {
        let (ok, output) = envoy_validate(&config);
        assert!(ok, "envoy --mode validate -c {} failed:\n{output}", config.display());
    }
}

/// Until a cluster has carried traffic Envoy health-checks it every
/// `no_traffic_interval` (60 s unless set): the central config sets it to the
/// normal interval, so a replica that goes away right after start leaves the
/// pool within seconds.
#[test]
fn central_health_checks_do_not_idle_for_a_minute_without_traffic() {
    let text = std::fs::read_to_string(deploy_config("central.yaml")).unwrap();
    let config: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let clusters = config["static_resources"]["clusters"].as_sequence().unwrap();
    let gatehouse = clusters.iter().find(|c| c["name"] == "gatehouse").unwrap();
    let check = &gatehouse["health_checks"][0];
    let seconds = |key: &str| {
        let value = check[key].as_str().unwrap_or_else(|| panic!("health_checks[0].{key} is not set"));
        value.trim_end_matches('s').parse::<f64>().unwrap()
    };
    assert!(seconds("no_traffic_interval") <= seconds("interval"), "{check:?}");
    assert!(seconds("unhealthy_interval") <= seconds("interval"), "{check:?}");
    assert!(!check["grpc_health_check"].is_null());
}

#[test]
fn render_replaces_marked_values_and_uncomments() {
    let rendered = render(
        &deploy_config("central.yaml"),
        &[
            ("admin_port", "19901".into()),
            ("listen_port", "18080".into()),
            ("access_log", "/tmp/a dir/access.log".into()),
            ("encode_raw_headers", "true".into()),
            ("gatehouse_host", "localhost".into()),
            ("gatehouse_port", "19001".into()),
            ("upstream_port", "18081".into()),
        ],
    );
    let has = |needle: &str| rendered.lines().any(|l| l.contains(needle));
    assert!(has("{ address: 127.0.0.1, port_value: 19901 }  # test:admin_port"), "{rendered}");
    assert!(has("{ address: 0.0.0.0, port_value: 18080 }  # test:listen_port"), "{rendered}");
    assert!(has(r#"path: "/tmp/a dir/access.log"  # test:access_log"#), "{rendered}");
    assert!(has("address: localhost  # test:gatehouse_host"), "{rendered}");
    assert!(has("port_value: 19001  # test:gatehouse_port"), "{rendered}");
    assert!(has("port_value: 18081 }  # test:upstream_port"), "{rendered}");
    let raw = rendered.lines().find(|l| l.contains("# test:encode_raw_headers")).unwrap();
    assert_eq!(raw.trim_start(), "encode_raw_headers: true  # test:encode_raw_headers");
    let indent = |l: &str| l.len() - l.trim_start().len();
    let grpc = rendered.lines().find(|l| l.trim_start().starts_with("grpc_service:")).unwrap();
    assert_eq!(indent(raw), indent(grpc), "uncommented at the filter's indentation");
    let parsed: serde_yaml_ng::Value = serde_yaml_ng::from_str(&rendered).expect("still YAML");
    assert!(parsed.get("static_resources").is_some());
}

#[test]
#[should_panic(expected = "the template drifted")]
fn render_panics_when_a_marker_is_missing() {
    render(&deploy_config("sidecar.yaml"), &[("gatehouse_host", "127.0.0.1".into())]);
}
