//! Operations: exact metrics for known traffic (Prometheus text and
//! OpenMetrics), gRPC health through shutdown, readiness waiting for keys,
//! live reload (file change in-process, SIGHUP on the binary, invalid files
//! refused) and the JSON decision log carrying no token material.
//!
//! Every wait for a state polls against a deadline.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse::internals::wire::authorization_client::AuthorizationClient;
use gatehouse::internals::wire::CheckResponse;
use gatehouse_testkit::idp::{Idp, Mode};
use gatehouse_testkit::ops;
use gatehouse_testkit::process::{free_addr, Served};
use gatehouse_testkit::*;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

const AUTHZ_SERVICE: &str = "envoy.service.auth.v3.Authorization";

// === shared helpers ===

fn reloads(outcome: &str) -> String {
    format!(r#"gatehouse_config_reload_total{{outcome="{outcome}"}}"#)
}

async fn check(client: &mut AuthorizationClient<Channel>, path: &str, token: Option<&str>) -> CheckResponse {
    let auth = token.map(bearer);
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    client
        .check(request("GET", path, &headers))
        .await
        .expect("Check must never fail at the RPC level")
        .into_inner()
}

/// The HTTP status Envoy would answer with: 200 for an allow.
fn http_status(response: &CheckResponse) -> i32 {
    if response.status.as_ref().map(|s| s.code) == Some(0) {
        ok(response);
        200
    } else {
        denied(response).0
    }
}

/// Polls a no-token Check on `path` until its HTTP status is `want`.
async fn wait_decision(
    client: &mut AuthorizationClient<Channel>,
    path: &str,
    want: i32,
    within: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        let status = http_status(&check(client, path, None).await);
        if status == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{path} still answers {status} after {within:?}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An in-process gatehouse with control over when its shutdown starts.
struct Running {
    grpc: SocketAddr,
    http: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    async fn launch(server: gatehouse::internals::Server) -> Running {
        let grpc = server.grpc_addr().unwrap();
        let http = server.http_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        Running { grpc, http, stop: Some(stop), task }
    }

    async fn client(&self) -> AuthorizationClient<Channel> {
        AuthorizationClient::connect(format!("http://{}", self.grpc)).await.expect("connect")
    }

    fn trigger_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    async fn stop(mut self) {
        self.trigger_shutdown();
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("server stops within 15s")
            .expect("server task")
            .expect("server result");
    }
}

// === 1. metrics ===

fn metrics_config(key: &SigningKey) -> String {
    format!(
        r#"
providers:
  - name: corp
    issuer: {ISSUER}
    audiences: [orders-api]
    algorithms: [ES256]
    jwks: {{ inline: '{jwks}' }}
rules:
  - name: public
    match: {{ path_prefix: /public }}
    allow: anonymous
  - name: api
    match: {{ path_prefix: /api }}
    require: {{ providers: [corp] }}
"#,
        jwks = inline_jwks(&[key])
    )
}

#[tokio::test]
async fn metrics_count_known_traffic_exactly() {
    let key = es256_key("k1");
    let mut gatehouse = Gatehouse::start(&metrics_config(&key)).await;
    let good = key.mint(&claims(json!({}))).unwrap();
    let expired = key.mint(&claims(json!({"iat": unix_now() - 7200, "exp": unix_now() - 3600}))).unwrap();

    for _ in 0..3 {
        assert_eq!(http_status(&check(&mut gatehouse.checker.client, "/api/orders", Some(&good)).await), 200);
    }
    for _ in 0..2 {
        assert_eq!(http_status(&check(&mut gatehouse.checker.client, "/api/orders", None).await), 401);
    }
    assert_eq!(http_status(&check(&mut gatehouse.checker.client, "/api/orders", Some(&expired)).await), 401);
    for _ in 0..4 {
        assert_eq!(http_status(&check(&mut gatehouse.checker.client, "/public/info", None).await), 200);
    }

    // Prometheus text 0.0.4 by default.
    let (status, content_type, text) = ops::get(gatehouse.http, "/metrics", None).await;
    assert_eq!(status, 200, "{text}");
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "content type {content_type}");
    let observed: Vec<&str> =
        text.lines().filter(|l| l.starts_with("gatehouse_check_requests_total{")).collect();
    eprintln!("observed check series:\n{}", observed.join("\n"));
    let lines: Vec<&str> = text.lines().collect();
    for expected in [
        "# TYPE gatehouse_check_requests_total counter",
        r#"gatehouse_check_requests_total{mode="grpc",decision="allow",reason="",provider="corp",rule="api"} 3"#,
        r#"gatehouse_check_requests_total{mode="grpc",decision="deny",reason="missing_token",provider="",rule="api"} 2"#,
        r#"gatehouse_check_requests_total{mode="grpc",decision="deny",reason="expired",provider="corp",rule="api"} 1"#,
        r#"gatehouse_check_requests_total{mode="grpc",decision="allow",reason="",provider="",rule="public"} 4"#,
        // The first Check of the token verifies it, the next two find it cached.
        r#"gatehouse_check_duration_seconds_count{decision="allow",cache="miss"} 1"#,
        r#"gatehouse_check_duration_seconds_count{decision="allow",cache="hit"} 2"#,
        r#"gatehouse_check_duration_seconds_count{decision="allow",cache="none"} 4"#,
        r#"gatehouse_check_duration_seconds_count{decision="deny",cache="none"} 3"#,
        r#"gatehouse_check_duration_seconds_count{decision="deny",cache="hit"} 0"#,
    ] {
        assert!(lines.contains(&expected), "missing line `{expected}` in:\n{text}");
    }
    assert_eq!(observed.len(), 4, "exactly four check series: {observed:#?}");
    let build = lines.iter().find(|l| l.starts_with("gatehouse_build_info{")).expect("gatehouse_build_info");
    assert!(build.starts_with(r#"gatehouse_build_info{version="0.1.0",revision=""#), "{build}");
    assert!(build.ends_with(r#",profile="debug"} 1"#), "{build}");
    let rss = ops::metric_in(&text, "process_resident_memory_bytes").expect("process_resident_memory_bytes");
    assert!(rss > 0.0, "rss {rss}");
    assert!(!text.contains("# EOF"), "no OpenMetrics terminator in Prometheus text");

    // OpenMetrics when asked for.
    let (status, content_type, text) =
        ops::get(gatehouse.http, "/metrics", Some("application/openmetrics-text; version=1.0.0")).await;
    assert_eq!(status, 200, "{text}");
    assert!(content_type.starts_with("application/openmetrics-text"), "content type {content_type}");
    assert!(text.ends_with("# EOF\n"), "OpenMetrics must end with # EOF:\n{text}");
    assert!(text.lines().any(|l| l == "# TYPE gatehouse_check_requests counter"), "{text}");
    assert!(
        text.lines().any(|l| {
            l == r#"gatehouse_check_requests_total{mode="grpc",decision="allow",reason="",provider="corp",rule="api"} 3"#
        }),
        "{text}"
    );
    gatehouse.stop().await;
}

// === 2. gRPC health through shutdown ===

async fn health_status(health: &mut HealthClient<Channel>, service: &str) -> ServingStatus {
    let response = health
        .check(HealthCheckRequest { service: service.to_owned() })
        .await
        .unwrap_or_else(|e| panic!("health Check `{service}`: {e}"))
        .into_inner();
    ServingStatus::try_from(response.status).expect("known status")
}

#[tokio::test]
async fn grpc_health_check_and_watch_follow_shutdown() {
    let key = es256_key("k1");
    let delay = Duration::from_secs(2);
    let yaml = format!("server:\n  shutdown_delay: 2s\n  drain_timeout: 10s\n{}", metrics_config(&key));
    let mut config = gatehouse::internals::from_yaml(&yaml).expect("valid config");
    assert_eq!(config.server.shutdown_delay, delay);
    config.server.grpc_addr = "127.0.0.1:0".parse().unwrap();
    config.server.http_addr = "127.0.0.1:0".parse().unwrap();
    let mut running = Running::launch(gatehouse::internals::Server::bind(config).await.expect("bind")).await;
    let channel = Channel::from_shared(format!("http://{}", running.grpc)).unwrap().connect().await.unwrap();
    let mut health = HealthClient::new(channel.clone());
    let mut client = AuthorizationClient::new(channel);

    assert_eq!(health_status(&mut health, AUTHZ_SERVICE).await, ServingStatus::Serving);
    assert_eq!(health_status(&mut health, "").await, ServingStatus::Serving);
    let mut watch = health
        .watch(HealthCheckRequest { service: AUTHZ_SERVICE.to_owned() })
        .await
        .expect("Watch")
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(2), watch.message())
        .await
        .expect("first Watch message within 2s")
        .expect("Watch message")
        .expect("Watch stream open");
    assert_eq!(first.status, ServingStatus::Serving as i32);
    assert_eq!(ops::wait_readyz(running.http, 200, Duration::from_secs(5)).await["shutting_down"], false);

    let triggered = Instant::now();
    running.trigger_shutdown();
    let next = tokio::time::timeout(delay, watch.message())
        .await
        .expect("NOT_SERVING on the Watch stream within the shutdown delay")
        .expect("Watch message")
        .expect("Watch stream still open");
    let seen = triggered.elapsed();
    assert_eq!(next.status, ServingStatus::NotServing as i32, "{next:?}");
    eprintln!("Watch saw NOT_SERVING {seen:?} after the shutdown trigger");

    // Inside the delay: not ready, NOT_SERVING on Check, but Checks still answered.
    let body = ops::wait_readyz(running.http, 503, Duration::from_secs(1)).await;
    assert_eq!(body["shutting_down"], true, "{body}");
    assert_eq!(body["ready"], false, "{body}");
    assert_eq!(health_status(&mut health, AUTHZ_SERVICE).await, ServingStatus::NotServing);
    assert_eq!(health_status(&mut health, "").await, ServingStatus::NotServing);
    assert_eq!(http_status(&check(&mut client, "/public/x", None).await), 200);
    assert_eq!(http_status(&check(&mut client, "/api/x", None).await), 401);
    assert!(
        triggered.elapsed() < delay,
        "the in-delay assertions took {:?}, past the {delay:?} delay",
        triggered.elapsed()
    );
    // An open Watch is an in-flight stream the drain would wait for: close it.
    drop(watch);

    // After the delay the server stops, without waiting out the drain timeout.
    let result = tokio::time::timeout(Duration::from_secs(8), &mut running.task)
        .await
        .expect("server stopped within 8s of the trigger (drain_timeout is 10s)");
    let stopped = triggered.elapsed();
    result.expect("server task").expect("server result");
    eprintln!("server stopped {stopped:?} after the shutdown trigger");
    assert!(stopped >= delay, "stopped {stopped:?} after the trigger, before the {delay:?} delay");
    assert!(
        AuthorizationClient::connect(format!("http://{}", running.grpc)).await.is_err(),
        "the gRPC listener still accepts after shutdown"
    );
    assert!(
        reqwest::get(format!("http://{}/healthz", running.http)).await.is_err(),
        "the HTTP listener still accepts after shutdown"
    );
}

// === 3. readiness ===

#[tokio::test]
async fn readiness_waits_for_keys() {
    let key = es256_key("k1");
    let idp = Idp::start(Mode::Fail).await;
    let yaml = format!(
        r#"
providers:
  - name: corp
    issuer: {ISSUER}
    audiences: [orders-api]
    algorithms: [ES256]
    jwks: {{ uri: "{uri}", refresh_interval: 1s }}
rules:
  - match: {{ path_prefix: /api }}
    require: {{ providers: [corp] }}
"#,
        uri = idp.uri()
    );
    let mut gatehouse = Gatehouse::start(&yaml).await;
    idp.wait_for_requests(1, Duration::from_secs(5)).await;
    let (status, body) = ops::readyz(gatehouse.http).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["ready"], false, "{body}");
    assert_eq!(body["shutting_down"], false, "{body}");
    assert_eq!(body["providers_starting"], json!(["corp"]), "{body}");
    assert_eq!(body["providers_without_keys"], json!(["corp"]), "{body}");
    let response =
        check(&mut gatehouse.checker.client, "/api/x", Some(&key.mint(&claims(json!({}))).unwrap())).await;
    assert_eq!(denied(&response).0, 503, "no keys yet: {response:?}");

    let serving = Instant::now();
    idp.set(Mode::Serve(jwks_json(&[&key])));
    let body = ops::wait_readyz(gatehouse.http, 200, Duration::from_secs(6)).await;
    eprintln!("ready {:?} after the IdP started serving", serving.elapsed());
    assert_eq!(body["ready"], true, "{body}");
    assert_eq!(body["providers_starting"], json!([]), "{body}");
    assert_eq!(body["providers_without_keys"], json!([]), "{body}");
    let response =
        check(&mut gatehouse.checker.client, "/api/x", Some(&key.mint(&claims(json!({}))).unwrap())).await;
    assert_eq!(http_status(&response), 200);
    gatehouse.stop().await;
}

// === 4, 5. in-process reload ===

/// The config both reload tests use: provider `corp` with the given key
/// source (a `jwks:` value) and a `/public` rule whose body is `public_rule`.
fn corp_config(grpc: &str, http: &str, jwks: &str, public_rule: &str) -> String {
    format!(
        r#"
server:
  grpc_addr: "{grpc}"
  http_addr: "{http}"
providers:
  - name: corp
    issuer: {ISSUER}
    audiences: [orders-api]
    algorithms: [ES256]
    jwks: {jwks}
rules:
  - name: public
    match: {{ path_prefix: /public }}
    {public_rule}
  - name: api
    match: {{ path_prefix: /api }}
    require: {{ providers: [corp] }}
"#
    )
}

/// A config file whose `/public` rule is `public_rule` (the rule's body lines).
fn reload_config(idp: &Idp, public_rule: &str) -> String {
    let jwks = format!("{{ uri: \"{}\", refresh_interval: 5m }}", idp.uri());
    corp_config("127.0.0.1:0", "127.0.0.1:0", &jwks, public_rule)
}

const ANONYMOUS: &str = "allow: anonymous";
const REQUIRE_TOKEN: &str = "require: { providers: [corp] }";

/// Replaces `path` as a ConfigMap update does: a new file renamed over it.
fn replace_file(path: &Path, contents: &str) {
    let temp = path.with_extension("yaml.new");
    std::fs::write(&temp, contents).unwrap();
    std::fs::rename(&temp, path).unwrap();
}

struct Reloading {
    running: Running,
    path: PathBuf,
    idp: Idp,
    key: SigningKey,
    _dir: tempfile::TempDir,
}

/// A gatehouse reloading from a file, ready (first JWKS fetched), `/public` anonymous.
async fn start_reloading() -> Reloading {
    let key = es256_key("k1");
    let idp = Idp::start(Mode::Serve(jwks_json(&[&key]))).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.yaml");
    std::fs::write(&path, reload_config(&idp, ANONYMOUS)).unwrap();
    let config = gatehouse::internals::load_file(&path).expect("valid config");
    let server = gatehouse::internals::Server::bind(config).await.expect("bind").reload_from(path.clone());
    let running = Running::launch(server).await;
    ops::wait_readyz(running.http, 200, Duration::from_secs(5)).await;
    Reloading { running, path, idp, key, _dir: dir }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reload_applies_a_valid_change_without_dropping_a_check_stream() {
    let r = start_reloading().await;
    let http = r.running.http;
    let mut client = r.running.client().await;
    let token = r.key.mint(&claims(json!({}))).unwrap();
    assert_eq!(http_status(&check(&mut client, "/public/x", None).await), 200);
    assert_eq!(http_status(&check(&mut client, "/api/x", Some(&token)).await), 200);
    let fetches_before = r.idp.requests();
    assert_eq!(fetches_before, 1, "one JWKS fetch at start-up");

    // Checks without pause on ONE channel for the whole test.
    let done = Arc::new(AtomicBool::new(false));
    let stream = {
        let done = done.clone();
        let mut client = r.running.client().await;
        let token = token.clone();
        tokio::spawn(async move {
            let (mut public_allowed, mut public_denied, mut api_allowed, mut errors) =
                (0u32, 0u32, 0u32, Vec::new());
            while !done.load(Ordering::Acquire) {
                match client.check(request("GET", "/public/x", &[])).await {
                    Ok(response) => match http_status(response.get_ref()) {
                        200 => public_allowed += 1,
                        401 => public_denied += 1,
                        other => panic!("/public answered {other}"),
                    },
                    Err(status) => errors.push(status.to_string()),
                }
                let auth = bearer(&token);
                match client.check(request("GET", "/api/x", &[("authorization", &auth)])).await {
                    Ok(response) => {
                        assert_eq!(http_status(response.get_ref()), 200, "a valid token on /api");
                        api_allowed += 1;
                    }
                    Err(status) => errors.push(status.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (public_allowed, public_denied, api_allowed, errors)
        })
    };

    let rewritten = Instant::now();
    replace_file(&r.path, &reload_config(&r.idp, REQUIRE_TOKEN));
    let took = wait_decision(&mut client, "/public/x", 401, Duration::from_secs(5)).await;
    eprintln!("the rewrite took effect {took:?} after the rename ({:?} total)", rewritten.elapsed());
    assert_eq!(ops::wait_metric(http, &reloads("success"), 1.0, Duration::from_secs(2)).await, 1.0);
    assert_eq!(ops::metric(http, &reloads("invalid")).await, Some(0.0));
    assert_eq!(http_status(&check(&mut client, "/public/x", Some(&token)).await), 200);

    // Let the stream run on the new policy for a moment; the unchanged
    // provider's key source was kept, so nothing fetches the JWKS again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    done.store(true, Ordering::Release);
    let (public_allowed, public_denied, api_allowed, errors) = stream.await.expect("check stream");
    eprintln!(
        "check stream: /public {public_allowed} allowed then {public_denied} denied, /api {api_allowed} allowed, {} RPC errors",
        errors.len()
    );
    assert!(errors.is_empty(), "RPC errors on the check stream: {errors:?}");
    assert!(public_allowed > 0 && public_denied > 0, "the stream saw both policies");
    assert!(api_allowed > 0);
    assert_eq!(r.idp.requests(), fetches_before, "the reload refetched an unchanged provider's JWKS");
    assert_eq!(
        ops::metric(http, r#"gatehouse_jwks_fetch_total{provider="corp",outcome="success"}"#).await,
        Some(1.0)
    );
    assert_eq!(ops::metric(http, &reloads("success")).await, Some(1.0));
    r.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_refuses_an_invalid_file_and_keeps_serving() {
    let r = start_reloading().await;
    let http = r.running.http;
    let mut client = r.running.client().await;
    let token = r.key.mint(&claims(json!({}))).unwrap();

    // An unknown key and an invalid regex.
    let invalid = reload_config(&r.idp, ANONYMOUS).replace(
        "rules:\n",
        "surprise: true\nrules:\n  - match: { path_regex: \"/broken/(\" }\n    allow: anonymous\n",
    );
    assert!(gatehouse::internals::from_yaml(&invalid).is_err(), "the test's invalid file must be invalid");
    replace_file(&r.path, &invalid);
    assert_eq!(ops::wait_metric(http, &reloads("invalid"), 1.0, Duration::from_secs(5)).await, 1.0);
    assert_eq!(ops::metric(http, &reloads("success")).await, Some(0.0));
    assert_eq!(ops::metric(http, "gatehouse_config_last_reload_success").await, Some(0.0));
    let started_at =
        ops::metric(http, "gatehouse_config_last_reload_success_timestamp_seconds").await.unwrap();
    assert!(
        started_at > 0.0 && started_at <= unix_now() as f64 + 1.0,
        "the start-up load counts: {started_at}"
    );
    // Decisions unchanged.
    assert_eq!(http_status(&check(&mut client, "/public/x", None).await), 200);
    assert_eq!(http_status(&check(&mut client, "/api/x", None).await), 401);
    assert_eq!(http_status(&check(&mut client, "/api/x", Some(&token)).await), 200);
    assert_eq!(http_status(&check(&mut client, "/broken/x", None).await), 403);
    let (status, body) = ops::readyz(http).await;
    assert_eq!(status, 200, "{body}");

    // A following valid file still applies.
    replace_file(&r.path, &reload_config(&r.idp, REQUIRE_TOKEN));
    wait_decision(&mut client, "/public/x", 401, Duration::from_secs(5)).await;
    assert_eq!(ops::wait_metric(http, &reloads("success"), 1.0, Duration::from_secs(2)).await, 1.0);
    assert_eq!(ops::metric(http, &reloads("invalid")).await, Some(1.0));
    assert_eq!(ops::metric(http, "gatehouse_config_last_reload_success").await, Some(1.0));
    let reloaded_at =
        ops::metric(http, "gatehouse_config_last_reload_success_timestamp_seconds").await.unwrap();
    assert!(reloaded_at >= started_at, "{reloaded_at} < {started_at}");
    assert_eq!(http_status(&check(&mut client, "/public/x", Some(&token)).await), 200);
    r.running.stop().await;
}

// === 6, 7. the binary ===

fn binary_config(grpc: SocketAddr, http: SocketAddr, jwks: &Path, public_rule: &str, extra: &str) -> String {
    let jwks = format!("{{ file: \"{}\" }}", jwks.display());
    format!("{extra}{}", corp_config(&grpc.to_string(), &http.to_string(), &jwks, public_rule))
}

/// Pads `text` with a trailing comment to exactly `len` bytes.
fn pad_to(mut text: String, len: usize) -> String {
    assert!(text.len() + 2 <= len, "cannot pad {} bytes to {len}", text.len());
    text.push('#');
    while text.len() < len - 1 {
        text.push('x');
    }
    text.push('\n');
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let key = es256_key("k1");
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, jwks_json(&[&key])).unwrap();
    let (grpc, http) = (free_addr(), free_addr());

    // Both versions have the same size, and the new one gets the old one's
    // modification time: the file watcher cannot see the change, only SIGHUP can.
    let anonymous = binary_config(grpc, http, &jwks, ANONYMOUS, "");
    let require = binary_config(grpc, http, &jwks, REQUIRE_TOKEN, "");
    let len = anonymous.len().max(require.len()) + 16;
    let (anonymous, require) = (pad_to(anonymous, len), pad_to(require, len));
    let path = dir.path().join("gatehouse.yaml");
    std::fs::write(&path, &anonymous).unwrap();

    let mut served = Served::spawn(dir.path(), &["serve", "--config", path.to_str().unwrap()]);
    served.wait_ready(http, Duration::from_secs(10)).await;
    let mut client = AuthorizationClient::connect(format!("http://{grpc}")).await.expect("connect");
    let token = key.mint(&claims(json!({}))).unwrap();
    assert_eq!(http_status(&check(&mut client, "/public/x", None).await), 200);
    assert_eq!(http_status(&check(&mut client, "/api/x", Some(&token)).await), 200);

    let before = std::fs::metadata(&path).unwrap();
    let temp = dir.path().join("gatehouse.yaml.new");
    std::fs::write(&temp, &require).unwrap();
    File::options().write(true).open(&temp).unwrap().set_modified(before.modified().unwrap()).unwrap();
    std::fs::rename(&temp, &path).unwrap();
    let after = std::fs::metadata(&path).unwrap();
    assert_eq!((after.modified().unwrap(), after.len()), (before.modified().unwrap(), before.len()));

    // The watcher polls every second: over 1.5s nothing changes.
    let unseen = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < unseen {
        assert_eq!(http_status(&check(&mut client, "/public/x", None).await), 200, "reloaded without SIGHUP");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ops::metric(http, &reloads("success")).await, Some(0.0));

    let hup = Instant::now();
    served.signal("HUP");
    wait_decision(&mut client, "/public/x", 401, Duration::from_secs(5)).await;
    eprintln!("SIGHUP reload took effect after {:?}", hup.elapsed());
    assert_eq!(ops::wait_metric(http, &reloads("success"), 1.0, Duration::from_secs(2)).await, 1.0);
    assert_eq!(http_status(&check(&mut client, "/public/x", Some(&token)).await), 200);
    assert!(served.exited().is_none(), "SIGHUP must not end the process");

    served.signal("TERM");
    let status = served.wait_exit(Duration::from_secs(15)).await;
    assert_eq!(status.code(), Some(0), "exit after SIGTERM: {status}");
    let log = served.stderr();
    assert!(log.contains("SIGHUP"), "{log}");
}

/// A log field: the event's own (flattened at the top level, or under
/// `fields`), else the enclosing span's.
fn field<'a>(line: &'a Value, name: &str) -> Option<&'a Value> {
    line.get(name).or_else(|| line.get("fields")?.get(name)).or_else(|| line.get("span")?.get(name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_decision_log_carries_no_token() {
    let dir = tempfile::tempdir().unwrap();
    let key = es256_key("k1");
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, jwks_json(&[&key])).unwrap();
    let (grpc, http) = (free_addr(), free_addr());
    let path = dir.path().join("gatehouse.yaml");
    std::fs::write(&path, binary_config(grpc, http, &jwks, ANONYMOUS, "decision_log: true")).unwrap();

    let marker = format!("zqmarker{:016x}", rand::random::<u64>());
    let request_id = format!("req-{:016x}", rand::random::<u64>());
    let token = key.mint(&claims(json!({ "marker": marker }))).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    // A denied token carries the marker too: deny lines must not leak either.
    let expired_id = format!("req-{:016x}", rand::random::<u64>());
    let expired = key
        .mint(&claims(json!({ "marker": marker, "iat": unix_now() - 7200, "exp": unix_now() - 3600 })))
        .unwrap();
    let expired_parts: Vec<&str> = expired.split('.').collect();

    let mut served =
        Served::spawn(dir.path(), &["--log-format", "json", "serve", "--config", path.to_str().unwrap()]);
    served.wait_ready(http, Duration::from_secs(10)).await;
    {
        let mut client = AuthorizationClient::connect(format!("http://{grpc}")).await.expect("connect");
        let auth = bearer(&token);
        let response = client
            .check(request("GET", "/api/orders", &[("authorization", &auth), ("x-request-id", &request_id)]))
            .await
            .expect("Check RPC")
            .into_inner();
        assert_eq!(http_status(&response), 200);
        let auth = bearer(&expired);
        let response = client
            .check(request("GET", "/api/orders", &[("authorization", &auth), ("x-request-id", &expired_id)]))
            .await
            .expect("Check RPC")
            .into_inner();
        assert_eq!(http_status(&response), 401);
    }
    served.signal("TERM");
    let status = served.wait_exit(Duration::from_secs(15)).await;
    assert_eq!(status.code(), Some(0), "exit after SIGTERM: {status}");

    let stdout = served.stdout();
    let stderr = served.stderr();
    let lines: Vec<Value> = stderr
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"))
        })
        .collect();
    assert!(!lines.is_empty(), "no log output");
    let decisions: Vec<&Value> =
        lines.iter().filter(|l| field(l, "message").and_then(Value::as_str) == Some("check")).collect();
    assert_eq!(decisions.len(), 2, "exactly two decision lines:\n{stderr}");
    let line = decisions[0];
    eprintln!("decision lines:\n{line}\n{}", decisions[1]);
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(field(line, "decision"), Some(&json!("allow")), "{line}");
    assert_eq!(field(line, "rule"), Some(&json!("api")), "{line}");
    assert_eq!(field(line, "provider"), Some(&json!("corp")), "{line}");
    assert_eq!(field(line, "request_id"), Some(&json!(request_id)), "{line}");
    let sub_hash =
        field(line, "sub_hash").and_then(Value::as_str).unwrap_or_else(|| panic!("sub_hash: {line}"));
    assert!(
        sub_hash.len() == 16 && sub_hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "sub_hash is not 16 hex chars: {sub_hash}"
    );
    assert_eq!(sub_hash, gatehouse::internals::short_hash("alice"));

    let line = decisions[1];
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(field(line, "decision"), Some(&json!("deny")), "{line}");
    assert_eq!(field(line, "reason"), Some(&json!("expired")), "{line}");
    assert_eq!(field(line, "rule"), Some(&json!("api")), "{line}");
    assert_eq!(field(line, "request_id"), Some(&json!(expired_id)), "{line}");

    for (what, secret) in [
        ("the token", token.as_str()),
        ("the token's payload", parts[1]),
        ("the token's signature", parts[2]),
        ("the subject", "alice"),
        ("the marker claim", marker.as_str()),
        ("the expired token", expired.as_str()),
        ("the expired token's payload", expired_parts[1]),
        ("the expired token's signature", expired_parts[2]),
    ] {
        assert!(!stderr.contains(secret), "{what} appears in the log:\n{stderr}");
        assert!(!stdout.contains(secret), "{what} appears on stdout:\n{stdout}");
    }
}
