//! A flood of tokens with random `kid`s against a hung IdP must not take the
//! Check permits (`limits.max_concurrent_checks`) that tokens with cached
//! keys need. At most `limits.max_unknown_kid_waiters` Checks wait on the
//! shared JWKS refresh, none longer than `limits.unknown_kid_wait`; the rest
//! are answered at once. So while 500 random-kid Checks are in flight at all
//! times, every valid token is allowed (no 503 `overloaded`), every random
//! `kid` is denied, each answer comes long before the 10 s fetch timeout, and
//! the whole flood costs the IdP one request.

use std::time::{Duration, Instant};

use gatehouse::internals::wire::authorization_client::AuthorizationClient;
use gatehouse::internals::wire::CheckResponse;
use gatehouse_testkit::idp::{Idp, Mode};
use gatehouse_testkit::*;
use tokio::task::JoinSet;
use tonic::transport::Channel;

const MAX_CONCURRENT_CHECKS: usize = 64;
const WAITERS: usize = 16;
const WAIT: Duration = Duration::from_millis(250);
/// Far above [`ANSWER_WITHIN`]: a Check that waited for the fetch shows.
const FETCH_TIMEOUT: &str = "10s";
/// Random-kid Checks kept in flight, and for how long.
const FLOOD_IN_FLIGHT: usize = 500;
const FLOOD_FOR: Duration = Duration::from_secs(2);
/// Client connections (the flood and the valid Checks share them, as the
/// Checks of one Envoy do) and workers sending valid tokens one after another.
const CHANNELS: usize = 4;
const VALID_WORKERS: usize = 32;
/// The bound on any random-kid answer: `unknown_kid_wait` plus generous
/// slack, yet far below the fetch timeout. Client and server share two cores
/// here, so with 500 Checks in flight even an immediate answer queues: a
/// debug build measured p50 about 350 ms, the slowest waiter about 0.9 s.
const ANSWER_WITHIN: Duration = Duration::from_secs(3);

fn config(uri: &str) -> String {
    let limits = format!(
        "{{ max_concurrent_checks: {MAX_CONCURRENT_CHECKS}, max_unknown_kid_waiters: {WAITERS}, unknown_kid_wait: {}ms }}",
        WAIT.as_millis()
    );
    CorpConfig::new(format!(r#"uri: "{uri}", timeout: {FETCH_TIMEOUT}"#)).limits(&limits).yaml()
}

/// A token signed under a `kid` the IdP has never published.
fn random_kid_token() -> String {
    let kid = format!("random-{:016x}", rand::random::<u64>());
    token(&SigningKey::generate(Algorithm::ES256, kid).unwrap())
}

/// How one Check was answered, in a word: `allow`, or the deny's reason.
async fn outcome(client: &mut AuthorizationClient<Channel>, token: &str) -> String {
    let auth = format!("Bearer {token}");
    match client.check(request("GET", "/api/orders", &[("authorization", &auth)])).await {
        Ok(response) => describe(&response.into_inner()),
        Err(status) => format!("rpc error {status:?}"),
    }
}

fn describe(response: &CheckResponse) -> String {
    match response.status.as_ref() {
        Some(status) if status.code == 0 => {
            assert_eq!(header(&ok(response).headers, "x-user-id"), Some("alice"), "{response:?}");
            "allow".to_owned()
        }
        Some(status) => status.message.clone(),
        None => "no status".to_owned(),
    }
}

/// Checks `token` on `client` until `until`; every outcome with its latency.
async fn keep_checking(mut client: AuthorizationClient<Channel>, token: String, until: Instant) -> Seen {
    let mut seen = Vec::new();
    while Instant::now() < until {
        let sent = Instant::now();
        let answer = outcome(&mut client, &token).await;
        seen.push((answer, sent.elapsed()));
    }
    seen
}

async fn join_all(mut set: JoinSet<Seen>) -> Seen {
    let mut all = Vec::new();
    while let Some(seen) = set.join_next().await {
        all.extend(seen.expect("check task"));
    }
    all
}

fn summary(what: &str, seen: &Seen) {
    let mut latencies: Vec<Duration> = seen.iter().map(|(_, latency)| *latency).collect();
    latencies.sort();
    let at =
        |q: f64| latencies.get(((latencies.len() as f64 - 1.0) * q) as usize).copied().unwrap_or_default();
    eprintln!("{what}: {} Checks, p50 {:?}, p99 {:?}, max {:?}", seen.len(), at(0.5), at(0.99), at(1.0));
}

/// What every Check of one kind was answered, with its latency.
type Seen = Vec<(String, Duration)>;

/// Keeps [`FLOOD_IN_FLIGHT`] random-kid Checks and [`VALID_WORKERS`] valid
/// ones in flight for [`FLOOD_FOR`]; returns both and how long it all took.
async fn flood(clients: &[AuthorizationClient<Channel>], valid: &str) -> (Seen, Seen, Duration) {
    // Minted up front so the flood is Checks, not key generation.
    let flood_tokens: Vec<String> = (0..FLOOD_IN_FLIGHT).map(|_| random_kid_token()).collect();
    let started = Instant::now();
    let until = started + FLOOD_FOR;
    let mut flood = JoinSet::new();
    for (i, token) in flood_tokens.into_iter().enumerate() {
        flood.spawn(keep_checking(clients[i % CHANNELS].clone(), token, until));
    }
    let mut valid_workers = JoinSet::new();
    for i in 0..VALID_WORKERS {
        valid_workers.spawn(keep_checking(clients[i % CHANNELS].clone(), valid.to_owned(), until));
    }
    let valid_seen = join_all(valid_workers).await;
    let flood_seen = join_all(flood).await;
    (valid_seen, flood_seen, started.elapsed())
}

/// Fails with how many of `seen` were not answered with one of `expected`, and a few examples.
#[track_caller]
fn assert_all(seen: &Seen, expected: &[&str], what: &str) {
    let wrong: Vec<_> = seen.iter().filter(|(o, _)| !expected.contains(&o.as_str())).collect();
    let examples = &wrong[..wrong.len().min(5)];
    assert!(wrong.is_empty(), "{} of {} {what} not {expected:?}, e.g. {examples:?}", wrong.len(), seen.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_random_kid_flood_against_a_hung_idp_leaves_cached_keys_alone() {
    let real = SigningKey::generate(Algorithm::ES256, "real").unwrap();
    let idp = Idp::start(Mode::Serve(jwks_json(&[&real]))).await;
    let gatehouse = Gatehouse::start(&config(&idp.uri())).await;
    gatehouse.wait_ready(Duration::from_secs(5)).await;
    let valid = token(&real);
    let mut clients = Vec::new();
    for _ in 0..CHANNELS {
        clients.push(AuthorizationClient::connect(format!("http://{}", gatehouse.grpc)).await.unwrap());
    }
    assert_eq!(outcome(&mut clients[0], &valid).await, "allow");

    idp.set(Mode::Hang);
    let (valid_seen, flood_seen, elapsed) = flood(&clients, &valid).await;
    let (refused, retry) = (only(&flood_seen, "unknown_kid"), only(&flood_seen, "keys_unavailable"));
    summary("valid tokens during the flood", &valid_seen);
    summary("random kids answered at once (401 unknown_kid)", &refused);
    summary("random kids that waited (503 keys_unavailable)", &retry);
    eprintln!("{} random-kid Checks in {elapsed:?}; IdP requests {}", flood_seen.len(), idp.requests());

    assert_all(&valid_seen, &["allow"], "valid tokens during the flood were");
    assert!(valid_seen.len() >= 20, "too few valid Checks overlapped the flood: {}", valid_seen.len());
    assert_all(&flood_seen, &["unknown_kid", "keys_unavailable"], "random-kid Checks were");
    let slowest = flood_seen.iter().map(|(_, latency)| *latency).max().unwrap_or_default();
    assert!(slowest < ANSWER_WITHIN, "a random-kid Check took {slowest:?}: it waited for the fetch");
    // Both paths ran: some Checks waited (the fetch was in flight), the
    // others found every waiter slot taken.
    assert!(!retry.is_empty() && !refused.is_empty(), "{} waited, {} refused", retry.len(), refused.len());
    // Each slot holds one wait at a time and a wait lasts `WAIT`.
    let most = WAITERS * (elapsed.as_millis() / WAIT.as_millis() + 1) as usize;
    assert!(retry.len() <= most, "{} waits in {elapsed:?}: more than {WAITERS} at a time", retry.len());
    assert_eq!(idp.requests(), 2, "the flood shares one (hung) fetch");
    gatehouse.stop().await;
}

fn only(seen: &Seen, what: &str) -> Seen {
    seen.iter().filter(|(o, _)| o == what).cloned().collect()
}
