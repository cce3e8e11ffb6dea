//! The remote JWKS cache against a fake IdP: key rotation, concurrent and
//! flooding unknown `kid`s, outages shorter and longer than `max_stale`, a
//! hung IdP, oversized bodies, OIDC discovery, key metrics and the start-up
//! readiness window. Every wait polls against a deadline.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gatehouse::internals::wire::authorization_client::AuthorizationClient;
use gatehouse::internals::wire::CheckResponse;
use gatehouse_testkit::idp::{Discovery, Idp, Mode};
use gatehouse_testkit::ops::{self, metric_in};
use gatehouse_testkit::*;
use serde_json::{json, Value};
use tokio::task::JoinSet;
use tonic::transport::Channel;

async fn check_with(client: &mut AuthorizationClient<Channel>, token: &str) -> CheckResponse {
    let auth = format!("Bearer {token}");
    client
        .check(request("GET", "/api/orders", &[("authorization", &auth)]))
        .await
        .expect("Check must never fail at the RPC level")
        .into_inner()
}

fn assert_allowed(response: &CheckResponse) {
    let allowed = ok(response);
    assert_eq!(header(&allowed.headers, "x-user-id"), Some("alice"), "{allowed:?}");
}

/// 401 / UNAUTHENTICATED because no loaded key has the token's `kid`.
fn assert_unknown_kid(response: &CheckResponse) {
    let (status, code, deny) = denied(response);
    assert_eq!((status, code), (401, 16), "{response:?}");
    let body: Value = serde_json::from_str(&deny.body).unwrap();
    assert_eq!(body["error"], "invalid_token", "{body}");
    assert_eq!(body["error_description"], "no key matches the token's key id", "{body}");
}

/// 503 / UNAVAILABLE because the provider has no keys.
fn assert_unavailable(response: &CheckResponse) {
    let (status, code, deny) = denied(response);
    assert_eq!((status, code), (503, 14), "{response:?}");
    let body: Value = serde_json::from_str(&deny.body).unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
}

/// Provider `corp` keyed as `jwks` says, unknown-`kid` waits of 5 s.
fn config(jwks: &str) -> String {
    CorpConfig::new(jwks).limits("{ unknown_kid_wait: 5s }").yaml()
}

fn config_with(jwks: &str, limits: &str) -> String {
    CorpConfig::new(jwks).limits(limits).yaml()
}

fn fetches(outcome: &str) -> String {
    format!(r#"gatehouse_jwks_fetch_total{{provider="corp",outcome="{outcome}"}}"#)
}

/// Every fetch outcome of `corp` other than `except` that /metrics reports.
async fn other_outcomes(gatehouse: &Gatehouse, except: &str) -> Vec<String> {
    let (_, text) = gatehouse.http_get("/metrics").await;
    text.lines()
        .filter(|line| line.starts_with(r#"gatehouse_jwks_fetch_total{provider="corp""#))
        .filter(|line| !line.contains(&format!(r#"outcome="{except}""#)))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn rotation_costs_exactly_one_extra_fetch() {
    let old = es256_key("old");
    let new = es256_key("new");
    let idp = Idp::start(Mode::Serve(jwks_json(&[&old]))).await;
    let mut gatehouse =
        Gatehouse::start(&config(&format!(r#"uri: "{}", refresh_interval: 5m"#, idp.uri()))).await;
    gatehouse.wait_ready(Duration::from_secs(5)).await;
    assert_eq!(idp.requests(), 1, "one fetch at start");

    idp.set(Mode::Serve(jwks_json(&[&old, &new])));
    assert_allowed(&gatehouse.check_token(&token(&new)).await);
    assert_eq!(idp.requests(), 2, "the unknown kid costs exactly one fetch");

    for _ in 0..20 {
        assert_allowed(&gatehouse.check_token(&token(&new)).await);
        assert_allowed(&gatehouse.check_token(&token(&old)).await);
    }
    assert_eq!(idp.requests(), 2, "known kids never fetch");
    gatehouse.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_unknown_kid_checks_cause_one_fetch() {
    let old = es256_key("old");
    let new = es256_key("new");
    let idp = Idp::start(Mode::Serve(jwks_json(&[&old]))).await;
    idp.set_delay(Duration::from_millis(300));
    let gatehouse = Gatehouse::start(&config(&format!(r#"uri: "{}""#, idp.uri()))).await;
    gatehouse.wait_ready(Duration::from_secs(5)).await;
    assert_eq!(idp.requests(), 1);

    idp.set(Mode::Serve(jwks_json(&[&old, &new])));
    let token = token(&new);
    let started = Instant::now();
    let mut checks = JoinSet::new();
    for _ in 0..1000 {
        let mut client = gatehouse.checker.client.clone();
        let token = token.clone();
        checks.spawn(async move { check_with(&mut client, &token).await });
    }
    let mut allowed = 0;
    while let Some(response) = checks.join_next().await {
        assert_allowed(&response.expect("check task"));
        allowed += 1;
    }
    eprintln!("1000 concurrent unknown-kid Checks took {:?}", started.elapsed());
    assert_eq!(allowed, 1000);
    assert_eq!(idp.requests(), 2, "all 1000 Checks shared one fetch");
    gatehouse.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_kid_flood_is_rate_limited() {
    let old = es256_key("old");
    let idp = Idp::start(Mode::Serve(jwks_json(&[&old]))).await;
    let mut gatehouse =
        Gatehouse::start(&config(&format!(r#"uri: "{}", min_refresh_interval: 1s"#, idp.uri()))).await;
    gatehouse.wait_ready(Duration::from_secs(5)).await;
    let valid = token(&old);
    // Minted up front so the flood is Checks, not key generation.
    let flood: Vec<String> = (0..200).map(|_| token(&random_key())).collect();

    let before = idp.requests();
    let started = Instant::now();
    let mut sent = 0;
    while started.elapsed() < Duration::from_secs(3) {
        let mut burst = JoinSet::new();
        for token in flood.iter().skip(sent % flood.len()).take(25) {
            let (mut client, token) = (gatehouse.checker.client.clone(), token.clone());
            burst.spawn(async move { check_with(&mut client, &token).await });
        }
        // The real token keeps passing in the middle of the flood.
        assert_allowed(&gatehouse.check_token(&valid).await);
        while let Some(response) = burst.join_next().await {
            assert_unknown_kid(&response.expect("check task"));
            sent += 1;
        }
    }
    let elapsed = started.elapsed();
    let made = idp.requests() - before;
    let bound = elapsed.as_secs_f64().ceil() as usize + 1;
    eprintln!("flood: {sent} random-kid Checks in {elapsed:?} caused {made} JWKS fetches (bound {bound})");
    assert!(made <= bound, "{made} fetches in {elapsed:?}: the unknown-kid rate limit is 1/s");
    assert!(made >= 2, "the flood outlasted min_refresh_interval, so it may refetch: {made} fetches");
    assert_allowed(&gatehouse.check_token(&valid).await);
    gatehouse.stop().await;
}

#[tokio::test]
async fn cached_keys_outlive_many_failed_refreshes_then_recover() {
    let old = es256_key("old");
    let new = es256_key("new");
    let idp = Idp::start(Mode::Serve(jwks_json(&[&old]))).await;
    let config = config(&format!(r#"uri: "{}", refresh_interval: 1s, max_stale: 1h"#, idp.uri()));
    let mut gatehouse = Gatehouse::start(&config).await;
    gatehouse.wait_ready(Duration::from_secs(5)).await;
    let valid = token(&old);
    assert_allowed(&gatehouse.check_token(&valid).await);

    // The IdP fails until three refreshes have been refused; the token
    // passes all along.
    idp.set(Mode::Fail);
    let outage = Instant::now();
    let mut checks = 0;
    loop {
        assert_allowed(&gatehouse.check_token(&valid).await);
        checks += 1;
        if gatehouse.metric(&fetches("bad_status")).await.unwrap_or(0.0) >= 3.0 {
            break;
        }
        assert!(outage.elapsed() < Duration::from_secs(7), "three failed refreshes took too long");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failed = gatehouse.metric(&fetches("bad_status")).await.unwrap();
    eprintln!("{failed} failed refreshes in {:?}; {checks} Checks allowed meanwhile", outage.elapsed());
    let (status, body) = ops::readyz(gatehouse.http).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["providers_without_keys"], json!([]), "{body}");

    // The IdP comes back: a later refresh succeeds.
    let successes = gatehouse.metric(&fetches("success")).await.unwrap();
    idp.set(Mode::Serve(jwks_json(&[&old])));
    ops::wait_metric(gatehouse.http, &fetches("success"), successes + 1.0, Duration::from_secs(5)).await;
    assert_allowed(&gatehouse.check_token(&valid).await);

    // A key published now (just after a refresh, so no scheduled fetch is
    // in flight) is picked up by the unknown-kid path.
    idp.set(Mode::Serve(jwks_json(&[&old, &new])));
    assert_allowed(&gatehouse.check_token(&token(&new)).await);
    gatehouse.stop().await;
}

#[tokio::test]
async fn keys_are_dropped_after_max_stale() {
    let old = es256_key("old");
    let idp = Idp::start(Mode::Serve(jwks_json(&[&old]))).await;
    let config = config(&format!(r#"uri: "{}", refresh_interval: 1s, max_stale: 2s"#, idp.uri()));
    let mut gatehouse = Gatehouse::start(&config).await;
    gatehouse.wait_ready(Duration::from_secs(5)).await;
    let valid = token(&old);

    // Fail right after a successful refresh, so the last good load is "now".
    let successes = gatehouse.metric(&fetches("success")).await.unwrap();
    ops::wait_metric(gatehouse.http, &fetches("success"), successes + 1.0, Duration::from_secs(3)).await;
    idp.set(Mode::Fail);
    let outage = Instant::now();
    let mut allowed = 0;
    loop {
        let response = gatehouse.check_token(&valid).await;
        if response.status.as_ref().is_some_and(|s| s.code == 0) {
            assert_allowed(&response);
            allowed += 1;
        } else {
            assert_unavailable(&response);
            break;
        }
        assert!(
            outage.elapsed() < Duration::from_secs(4),
            "keys still served {:?} into the outage",
            outage.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let dropped_after = outage.elapsed();
    eprintln!("keys dropped {dropped_after:?} into the outage ({allowed} Checks allowed before)");
    assert!(dropped_after >= Duration::from_millis(1500), "keys dropped before max_stale: {dropped_after:?}");

    let (_, body) = ops::readyz(gatehouse.http).await;
    assert_eq!(body["providers_without_keys"], json!(["corp"]), "{body}");
    assert_eq!(body["providers_starting"], json!([]), "{body}");
    assert_unavailable(&gatehouse.check_token(&valid).await);
    gatehouse.stop().await;
}

/// A hung IdP: Checks with cached keys stay fast, and a Check with an
/// unknown `kid` waits `unknown_kid_wait` (250 ms by default), not the fetch
/// timeout, then hears "retry" (503) since the fetch may still bring the key.
/// The fetch itself is not cancelled: it runs on to its own timeout, shared
/// by later Checks; once it has failed, an unknown `kid` is a plain 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_idp_does_not_slow_cached_checks() {
    let old = es256_key("old");
    let idp = Idp::start(Mode::Serve(jwks_json(&[&old]))).await;
    let jwks_config = format!(r#"uri: "{}", timeout: 8s"#, idp.uri());
    let mut gatehouse = Gatehouse::start(&config_with(&jwks_config, "{}")).await;
    gatehouse.wait_ready(Duration::from_secs(5)).await;
    let valid = token(&old);
    assert_allowed(&gatehouse.check_token(&valid).await);

    idp.set(Mode::Hang);
    let mut client = gatehouse.checker.client.clone();
    let unknown = token(&random_key());
    let background = tokio::spawn(async move {
        let started = Instant::now();
        let response = check_with(&mut client, &unknown).await;
        (response, started.elapsed())
    });
    // The unknown-kid fetch has reached the IdP and hangs there.
    idp.wait_for_requests(2, Duration::from_secs(2)).await;

    let mut latencies = Vec::with_capacity(200);
    for _ in 0..200 {
        let started = Instant::now();
        let response = gatehouse.check_token(&valid).await;
        let latency = started.elapsed();
        assert_allowed(&response);
        assert!(latency < Duration::from_millis(500), "a cached Check took {latency:?}");
        latencies.push(latency);
    }
    latencies.sort();
    eprintln!(
        "200 cached Checks during a hung fetch: p50 {:?}, p99 {:?}, max {:?}",
        latencies[100], latencies[197], latencies[199]
    );

    let (response, waited) = background.await.expect("background check");
    eprintln!("unknown-kid Check answered after {waited:?} (fetch timeout 8s)");
    assert_unavailable(&response);
    assert_eq!(response.status.as_ref().unwrap().message, "keys_unavailable");
    assert!(
        waited >= Duration::from_millis(200) && waited < Duration::from_secs(2),
        "the unknown-kid Check should end after about unknown_kid_wait (250ms), took {waited:?}"
    );

    fetch_runs_on_to_its_timeout(&mut gatehouse, &idp).await;
    gatehouse.stop().await;
}

/// After an unknown-kid Check stopped waiting for a hung fetch: the fetch
/// still runs (shared, not restarted) until its own timeout.
async fn fetch_runs_on_to_its_timeout(gatehouse: &mut Gatehouse, idp: &Idp) {
    // The fetch still hangs; another unknown kid joins it rather than
    // starting one, and is answered just as soon.
    let started = Instant::now();
    assert_unavailable(&gatehouse.check_token(&token(&random_key())).await);
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert_eq!(gatehouse.metric(&fetches("timeout")).await.unwrap_or(0.0), 0.0, "the fetch ended early");
    assert_eq!(idp.requests(), 2);

    // It runs to its own timeout; then the rate limit holds and an unknown
    // kid is refused at once with 401, without another fetch.
    ops::wait_metric(gatehouse.http, &fetches("timeout"), 1.0, Duration::from_secs(12)).await;
    let started = Instant::now();
    assert_unknown_kid(&gatehouse.check_token(&token(&random_key())).await);
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    assert_eq!(idp.requests(), 2);
    let (status, body) = ops::readyz(gatehouse.http).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn oversized_jwks_is_a_failed_fetch() {
    let old = es256_key("old");
    let idp = Idp::start(Mode::Huge).await;
    let config = config(&format!(r#"uri: "{}", max_bytes: 4096, refresh_interval: 1s"#, idp.uri()));
    let mut gatehouse = Gatehouse::start(&config).await;

    ops::wait_metric(gatehouse.http, &fetches("too_large"), 1.0, Duration::from_secs(5)).await;
    let (status, body) = ops::readyz(gatehouse.http).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["providers_without_keys"], json!(["corp"]), "{body}");
    assert_unavailable(&gatehouse.check_token(&token(&old)).await);

    // The same body streamed without content-length is cut off the same way.
    idp.set(Mode::HugeChunked);
    let seen = idp.requests();
    // Request seen+1 is chunked; it has been answered once seen+2 arrives.
    idp.wait_for_requests(seen + 2, Duration::from_secs(5)).await;
    let too_large =
        ops::wait_metric(gatehouse.http, &fetches("too_large"), (seen + 1) as f64, Duration::from_secs(2))
            .await;
    assert_eq!(other_outcomes(&gatehouse, "too_large").await, Vec::<String>::new());
    eprintln!("{too_large} fetches refused as too large");
    assert_unavailable(&gatehouse.check_token(&token(&old)).await);
    assert_eq!(ops::readyz(gatehouse.http).await.0, 503);
    gatehouse.stop().await;
}

#[tokio::test]
async fn discovery_happy_path() {
    let old = es256_key("old");
    let idp = Idp::start(Mode::Serve(jwks_json(&[&old]))).await;
    idp.set_discovery(Discovery::Document { issuer: ISSUER.into(), jwks_uri: idp.uri() });
    let mut gatehouse = Gatehouse::start(&config(&format!(r#"discovery: "{}""#, idp.base_url()))).await;
    gatehouse.wait_ready(Duration::from_secs(5)).await;

    assert_allowed(&gatehouse.check_token(&token(&old)).await);
    assert!(idp.discovery_requests() >= 1, "discovery was never requested");
    assert!(idp.requests() >= 1, "the discovered jwks_uri was never requested");
    gatehouse.stop().await;
}

#[tokio::test]
async fn discovery_issuer_mismatch_is_refused() {
    let old = es256_key("old");
    let idp = Idp::start(Mode::Serve(jwks_json(&[&old]))).await;
    idp.set_discovery(Discovery::Document { issuer: "https://impostor.test".into(), jwks_uri: idp.uri() });
    let config = config(&format!(r#"discovery: "{}", refresh_interval: 1s"#, idp.base_url()));
    let mut gatehouse = Gatehouse::start(&config).await;

    // Refused at start and again on the retry.
    ops::wait_metric(gatehouse.http, &fetches("discovery_error"), 2.0, Duration::from_secs(5)).await;
    assert_unavailable(&gatehouse.check_token(&token(&old)).await);
    let (status, body) = ops::readyz(gatehouse.http).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["providers_without_keys"], json!(["corp"]), "{body}");
    assert_eq!(idp.requests(), 0, "the JWKS of an impostor issuer must never be fetched");
    assert_eq!(other_outcomes(&gatehouse, "discovery_error").await, Vec::<String>::new());
    gatehouse.stop().await;
}

/// Starts a gatehouse discovering from an IdP that serves `document`, and
/// checks the document is refused: no JWKS request, 503, `discovery_error`.
async fn assert_discovery_refused(document: Discovery, what: &str) {
    let old = es256_key("old");
    let idp = Idp::start(Mode::Serve(jwks_json(&[&old]))).await;
    idp.set_discovery(document);
    let mut gatehouse = Gatehouse::start(&config(&format!(r#"discovery: "{}""#, idp.base_url()))).await;

    ops::wait_metric(gatehouse.http, &fetches("discovery_error"), 1.0, Duration::from_secs(5)).await;
    assert_unavailable(&gatehouse.check_token(&token(&old)).await);
    let (status, body) = ops::readyz(gatehouse.http).await;
    assert_eq!(status, 503, "{what}: {body}");
    assert!(idp.discovery_requests() >= 1, "{what}");
    assert_eq!(idp.requests(), 0, "{what}: no JWKS request may follow a refused document");
    // A request to idp.example.com would have been http_error (no such
    // host here): only discovery_error proves the policy refused it first.
    assert_eq!(other_outcomes(&gatehouse, "discovery_error").await, Vec::<String>::new(), "{what}");
    gatehouse.stop().await;
}

#[tokio::test]
async fn discovery_bad_document_is_refused() {
    assert_discovery_refused(Discovery::Raw("text/html", "<html>Sign in</html>".into()), "not JSON").await;
    assert_discovery_refused(
        Discovery::Raw("application/json", json!({ "issuer": ISSUER }).to_string()),
        "no jwks_uri",
    )
    .await;
    assert_discovery_refused(
        Discovery::Document { issuer: ISSUER.into(), jwks_uri: "http://idp.example.com/jwks".into() },
        "plain http jwks_uri off loopback",
    )
    .await;
}

#[tokio::test]
async fn metrics_report_fetches_and_keys() {
    let old = es256_key("old");
    let idp = Idp::start(Mode::Serve(jwks_json(&[&old]))).await;
    let gatehouse = Gatehouse::start(&config(&format!(r#"uri: "{}""#, idp.uri()))).await;
    gatehouse.wait_ready(Duration::from_secs(5)).await;

    let (_, text) = gatehouse.http_get("/metrics").await;
    eprintln!("{}", text.lines().filter(|l| l.contains("gatehouse_jwks")).collect::<Vec<_>>().join("\n"));
    let success = metric_in(&text, &fetches("success"));
    assert!(success.is_some_and(|n| n >= 1.0), "{text}");
    assert_eq!(metric_in(&text, r#"gatehouse_jwks_keys{provider="corp"}"#), Some(1.0), "{text}");
    let last = metric_in(&text, r#"gatehouse_jwks_last_success_timestamp_seconds{provider="corp"}"#)
        .unwrap_or_else(|| panic!("no last-success timestamp: {text}"));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    assert!((now - last).abs() < 60.0, "last success at {last}, now is {now}");
    gatehouse.stop().await;
}

#[tokio::test]
async fn startup_timeout_releases_readiness() {
    let old = es256_key("old");
    let idp = Idp::start(Mode::Fail).await;
    let before_start = Instant::now();
    let mut gatehouse =
        Gatehouse::start(&config(&format!(r#"uri: "{}", startup_timeout: 1s"#, idp.uri()))).await;

    let (status, body) = ops::readyz(gatehouse.http).await;
    assert!(before_start.elapsed() < Duration::from_secs(1), "too slow to observe the start-up window");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["ready"], false, "{body}");
    assert_eq!(body["providers_starting"], json!(["corp"]), "{body}");

    gatehouse.wait_ready(Duration::from_secs(4)).await;
    let released = before_start.elapsed();
    eprintln!("readiness released {released:?} after start");
    assert!(released >= Duration::from_secs(1), "ready before startup_timeout: {released:?}");
    let (status, body) = ops::readyz(gatehouse.http).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["providers_starting"], json!([]), "{body}");
    assert_eq!(body["providers_without_keys"], json!(["corp"]), "{body}");
    assert!(idp.requests() >= 1);
    assert_unavailable(&gatehouse.check_token(&token(&old)).await);
    gatehouse.stop().await;
}

/// Envoy cancels a Check at its ext_authz timeout (200 ms by default). The
/// unknown-kid fetch that Check started is shared with everyone else, so it
/// must still finish: the IdP answers after 300 ms and the new key loads
/// without any further Check.
#[tokio::test]
async fn a_cancelled_check_does_not_stall_the_shared_fetch() {
    let old = es256_key("old");
    let new = es256_key("new");
    let idp = Idp::start(Mode::Serve(jwks_json(&[&old]))).await;
    let config = config(&format!(r#"uri: "{}", timeout: 2s, min_refresh_interval: 1s"#, idp.uri()));
    let mut gatehouse = Gatehouse::start(&config).await;
    gatehouse.wait_ready(Duration::from_secs(5)).await;
    assert_eq!(idp.requests(), 1);

    idp.set(Mode::Serve(jwks_json(&[&old, &new])));
    idp.set_delay(Duration::from_millis(300));
    let auth = format!("Bearer {}", token(&new));
    let mut cancelled = tonic::Request::new(request("GET", "/api/orders", &[("authorization", &auth)]));
    cancelled.set_timeout(Duration::from_millis(50));
    let mut client = gatehouse.checker.client.clone();
    let outcome = tokio::time::timeout(Duration::from_millis(100), client.check(cancelled)).await;
    assert!(!matches!(outcome, Ok(Ok(_))), "the Check should have been cut off: {outcome:?}");
    idp.wait_for_requests(2, Duration::from_secs(2)).await;

    // No Check waits on the fetch any more; it must complete by itself.
    ops::wait_metric(gatehouse.http, &fetches("success"), 2.0, Duration::from_secs(3)).await;
    assert_allowed(&gatehouse.check_token(&token(&new)).await);
    assert_eq!(idp.requests(), 2);
    gatehouse.stop().await;
}

/// `max_stale` is how long stale keys may be served; an operator who means
/// "forever" may well write `9999y`. That must be refused by validation or
/// work, never panic (moka refuses a time-to-live over 1000 years).
#[tokio::test]
async fn a_very_long_max_stale_does_not_panic() {
    let idp = Idp::start(Mode::Serve(jwks_json(&[&es256_key("old")]))).await;
    let yaml = config(&format!(r#"uri: "{}", max_stale: 9999y"#, idp.uri()));
    match gatehouse::internals::from_yaml(&yaml) {
        Err(error) => assert!(error.to_string().contains("max_stale"), "{error}"),
        Ok(_) => {
            let started = tokio::spawn(async move {
                let gatehouse = Gatehouse::start(&yaml).await;
                gatehouse.wait_ready(Duration::from_secs(5)).await;
                gatehouse.stop().await;
            })
            .await;
            assert!(started.is_ok(), "accepted by validation, then start-up panicked: {started:?}");
        }
    }
}
