//! Introspection under load: one call per token per `cache_ttl` however
//! many Checks ask at once, no answer reused past the token's `exp`, and a
//! flood of random tokens against a hung server that cannot starve tokens
//! already answered.

use std::time::{Duration, Instant};

use gatehouse::internals::wire::authorization_client::AuthorizationClient;
use gatehouse_testkit::idp::Introspection;
use gatehouse_testkit::*;
use serde_json::json;
use tokio::task::JoinSet;
use tonic::transport::Channel;

use super::introspection::Setup;
use super::outcome;

async fn checks_at_once(gatehouse: &Gatehouse, token: &str, n: usize) -> Vec<String> {
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(AuthorizationClient::connect(format!("http://{}", gatehouse.grpc)).await.unwrap());
    }
    let mut set = JoinSet::new();
    for i in 0..n {
        let mut client: AuthorizationClient<Channel> = clients[i % clients.len()].clone();
        let auth = bearer(token);
        set.spawn(async move {
            let response = client.check(request("GET", "/api/orders", &[("authorization", &auth)])).await;
            outcome(&response.expect("no RPC error").into_inner())
        });
    }
    let mut seen = Vec::new();
    while let Some(answer) = set.join_next().await {
        seen.push(answer.unwrap());
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_checks_of_a_new_token_make_one_call_per_cache_ttl() {
    // The token cache is off so that every Check reads the introspection
    // answer cache itself: what is measured is its lifetime alone.
    let limits = "cache: { enabled: false }\n";
    let mut setup = Setup::start_with("cache_ttl: 2s, wait: 5s, timeout: 5s", "", limits).await;
    // The server takes a moment, so the Checks really overlap the call.
    setup.idp.set_delay(Duration::from_millis(200));
    let token = setup.token(active_answer(json!({})));
    let seen = checks_at_once(&setup.gatehouse, &token, 1000).await;
    assert!(seen.iter().all(|o| o == "allow alice"), "{:?}", seen.iter().find(|o| *o != "allow alice"));
    assert_eq!(setup.idp.introspections(), 1, "1000 concurrent Checks, one call");

    assert_eq!(setup.check("/api/orders", &token).await, "allow alice");
    assert_eq!(setup.idp.introspections(), 1, "within cache_ttl: no call");
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert_eq!(setup.check("/api/orders", &token).await, "allow alice");
    assert_eq!(setup.idp.introspections(), 2, "after cache_ttl: one call");
    setup.gatehouse.stop().await;
}

#[tokio::test]
async fn an_answer_is_never_reused_past_the_tokens_exp() {
    // No clock skew: `exp` is the last moment the token is good.
    let mut setup = Setup::start("cache_ttl: 1h, wait: 2s", "clock_skew: 0s").await;
    let exp = unix_now() + 2;
    let token = setup.token(active_answer(json!({ "exp": exp })));
    assert_eq!(setup.check("/api/orders", &token).await, "allow alice");
    assert_eq!(setup.idp.introspections(), 1);
    while unix_now() <= exp {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(setup.check("/api/orders", &token).await, "expired 401");
    assert_eq!(setup.idp.introspections(), 2, "the answer expired with the token: asked again");
    setup.gatehouse.stop().await;
}

const FLOOD_IN_FLIGHT: usize = 300;
const VALID_WORKERS: usize = 16;
const FLOOD_FOR: Duration = Duration::from_secs(2);
const MAX_IN_FLIGHT: usize = 8;

async fn keep_checking(
    mut client: AuthorizationClient<Channel>,
    token: String,
    until: Instant,
) -> Vec<(String, Duration)> {
    let mut seen = Vec::new();
    while Instant::now() < until {
        let sent = Instant::now();
        let response =
            client.check(request("GET", "/api/orders", &[("authorization", &bearer(&token))])).await;
        seen.push((outcome(&response.expect("no RPC error").into_inner()), sent.elapsed()));
    }
    seen
}

/// The introspection counterpart of the unknown-`kid` flood test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_random_token_flood_against_a_hung_server_leaves_answered_tokens_alone() {
    let settings = format!("wait: 250ms, timeout: 10s, max_in_flight: {MAX_IN_FLIGHT}");
    let limits = "limits: { max_concurrent_checks: 64, max_unknown_kid_waiters: 16 }\n";
    let setup = Setup::start_with(&settings, "", limits).await;
    let valid = setup.token(active_answer(json!({})));
    let mut client = AuthorizationClient::connect(format!("http://{}", setup.gatehouse.grpc)).await.unwrap();
    let first = client.check(request("GET", "/api/orders", &[("authorization", &bearer(&valid))])).await;
    assert_eq!(outcome(&first.unwrap().into_inner()), "allow alice");

    setup.idp.set_introspection(Introspection::Hang);
    let until = Instant::now() + FLOOD_FOR;
    let mut flood = JoinSet::new();
    for _ in 0..FLOOD_IN_FLIGHT {
        flood.spawn(keep_checking(client.clone(), opaque_token(), until));
    }
    let mut workers = JoinSet::new();
    for _ in 0..VALID_WORKERS {
        workers.spawn(keep_checking(client.clone(), valid.clone(), until));
    }
    let (mut valid_seen, mut flood_seen) = (Vec::new(), Vec::new());
    while let Some(seen) = workers.join_next().await {
        valid_seen.extend(seen.unwrap());
    }
    while let Some(seen) = flood.join_next().await {
        flood_seen.extend(seen.unwrap());
    }
    eprintln!("{} valid Checks, {} flood Checks", valid_seen.len(), flood_seen.len());
    assert!(valid_seen.len() >= 20, "too few valid Checks overlapped the flood");
    assert!(
        valid_seen.iter().all(|(o, _)| o == "allow alice"),
        "{:?}",
        valid_seen.iter().find(|(o, _)| o != "allow alice")
    );
    assert!(
        flood_seen.iter().all(|(o, _)| o == "introspection_unavailable 503"),
        "{:?}",
        flood_seen.iter().find(|(o, _)| o != "introspection_unavailable 503")
    );
    let slowest = flood_seen.iter().map(|(_, latency)| *latency).max().unwrap_or_default();
    assert!(slowest < Duration::from_secs(3), "a flood Check took {slowest:?}: it waited on the hung call");
    let calls = setup.idp.introspections();
    assert!(calls <= 1 + MAX_IN_FLIGHT, "{calls} calls: more than max_in_flight ({MAX_IN_FLIGHT}) at once");
    setup.gatehouse.stop().await;
}

/// With the verified-token cache on (the default), a token's entry there
/// lives no longer than its introspection answer: after `cache_ttl` the
/// server is asked again.
#[tokio::test]
async fn the_token_cache_keeps_an_introspected_token_no_longer_than_cache_ttl() {
    let mut setup = Setup::start("cache_ttl: 1s, wait: 2s", "").await;
    let token = setup.token(active_answer(json!({})));
    for _ in 0..3 {
        assert_eq!(setup.check("/api/orders", &token).await, "allow alice");
    }
    assert_eq!(setup.idp.introspections(), 1);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    // The server changed its mind meanwhile: the next Check hears it.
    setup.idp.answer(&token, json!({ "active": false }));
    assert_eq!(setup.check("/api/orders", &token).await, "inactive_token 401");
    assert_eq!(setup.idp.introspections(), 2);
    setup.gatehouse.stop().await;
}
