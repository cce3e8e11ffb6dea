//! One burst of hostile traffic against an in-process gatehouse with a remote
//! JWKS: 100,000 Checks with distinct random garbage tokens and 10,000 with
//! well-formed tokens signed by an attacker key under random `kid`s, with a
//! valid token interleaved every 100th request. Every valid token must be
//! allowed and every other one denied, with no RPC error; the unknown-`kid`
//! cooldown must hold the IdP to about one fetch a second; and the process
//! (gatehouse runs inside the test) must not grow by the flood, i.e. failed
//! verifications are never cached. The whole burst runs against a deadline.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use gatehouse::internals::wire::authorization_client::AuthorizationClient;
use gatehouse::internals::wire::{CheckRequest, CheckResponse};
use gatehouse::internals::{parse_stat, parse_status};
use gatehouse_testkit::idp::{Idp, Mode};
use gatehouse_testkit::ops::{self, sum_metric};
use gatehouse_testkit::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

/// The `kid` the IdP publishes.
const KID: &str = "real-key";

/// Distinct garbage tokens.
const GARBAGE: usize = 100_000;
/// Distinct well-formed tokens signed by an attacker key under random `kid`s.
const ATTACKER: usize = 10_000;
/// Every request whose index is a multiple of this carries a valid token.
const VALID_EVERY: usize = 100;
/// Valid tokens in rotation (distinct `sub`s): the most the cache should hold.
const VALID_TOKENS: usize = 16;
/// Client connections, and Checks in flight on each.
const CHANNELS: usize = 4;
const IN_FLIGHT: usize = 64;
/// The whole burst must be over within this: a guard against a hang, not a
/// speed requirement. On two cores a debug build managed 600-1,600 Checks/s
/// (70-180 s, depending on what else ran), a release build about 5,000.
const DEADLINE: Duration = Duration::from_secs(300);
/// Allowed growth of the resident set over the burst.
const MAX_RSS_GROWTH: u64 = 100 * 1024 * 1024;
/// Allowed growth from a tenth of the way through to the end: by then the
/// connections, buffers and allocator arenas are warm (observed: under 1 MiB
/// after that point), so this is about what the flood itself leaves behind;
/// keeping some 170 bytes per invalid token would exceed it.
const MAX_LATE_RSS_GROWTH: u64 = 16 * 1024 * 1024;

/// `limits.max_token_bytes` (the default).
const MAX_TOKEN_BYTES: usize = 8 * 1024;

fn config(uri: &str) -> String {
    CorpConfig::new(format!(r#"uri: "{uri}", refresh_interval: 5m, min_refresh_interval: 1s"#)).yaml()
}

fn claims_of(sub: &str) -> serde_json::Value {
    claims(json!({ "sub": sub }))
}

/// Request `i` of the burst: valid every [`VALID_EVERY`]th, else invalid
/// number `j`, of which every 11th is an attacker token (10,000 of 110,000).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Valid(usize),
    Attacker,
    Garbage(usize),
}

/// Requests in the burst: exactly `GARBAGE + ATTACKER` invalid ones plus the
/// valid ones interleaved among them.
fn total() -> usize {
    let invalid = GARBAGE + ATTACKER;
    // `n - ceil(n / VALID_EVERY) == invalid`.
    let mut n = invalid + invalid / (VALID_EVERY - 1);
    while n - n.div_ceil(VALID_EVERY) < invalid {
        n += 1;
    }
    n
}

fn kind(i: usize) -> Kind {
    if i.is_multiple_of(VALID_EVERY) {
        return Kind::Valid(i / VALID_EVERY);
    }
    let j = i - i / VALID_EVERY - 1;
    if j % 11 == 5 {
        Kind::Attacker
    } else {
        Kind::Garbage(j)
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn random_bytes(rng: &mut impl Rng, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rng.fill(&mut bytes[..]);
    bytes
}

fn random_kid(rng: &mut impl Rng) -> String {
    format!("kid-{:016x}", rng.random::<u64>())
}

/// A garbage request, distinct from every other (random bytes throughout):
/// what it looks like depends on `j`.
fn garbage(rng: &mut impl Rng, j: usize) -> CheckRequest {
    let token = match j % 10 {
        // A JWT-looking token: a plausible JSON header (sometimes with the
        // real kid, so the signature is actually checked), random payload
        // claims, a random signature.
        0..=2 => {
            let alg = ["ES256", "ES256", "RS256", "HS256", "none", "ES384", "XX"][rng.random_range(0..7)];
            let kid = if rng.random_bool(0.5) { KID.to_owned() } else { random_kid(rng) };
            let header = json!({ "alg": alg, "typ": "JWT", "kid": kid });
            let payload = json!({
                "iss": ISSUER,
                "aud": "orders-api",
                "sub": format!("{:x}", rng.random::<u64>()),
                "exp": unix_now() + 600,
            });
            let len = [0, 32, 64, 64, 256][rng.random_range(0..5)];
            let signature = random_bytes(rng, len);
            format!(
                "{}.{}.{}",
                b64(header.to_string().as_bytes()),
                b64(payload.to_string().as_bytes()),
                b64(&signature)
            )
        }
        // A JSON header with no kid at all, or a kid of the wrong type.
        3 => {
            let header = if rng.random_bool(0.5) {
                json!({ "alg": "ES256", "typ": "JWT" })
            } else {
                json!({ "alg": "ES256", "kid": rng.random::<u32>() })
            };
            format!(
                "{}.{}.{}",
                b64(header.to_string().as_bytes()),
                b64(&random_bytes(rng, 64)),
                b64(&random_bytes(rng, 64))
            )
        }
        // Three parts of random bytes.
        4 | 5 => {
            let parts: Vec<String> = (0..3)
                .map(|_| {
                    let len = rng.random_range(1..200);
                    b64(&random_bytes(rng, len))
                })
                .collect();
            parts.join(".")
        }
        // The wrong number of parts.
        6 => {
            let parts = [1, 2, 4, 5][rng.random_range(0..4)];
            (0..parts).map(|_| b64(&random_bytes(rng, 24))).collect::<Vec<_>>().join(".")
        }
        // Random bytes as the header value, not even UTF-8: raw, as Envoy
        // sends them with `encode_raw_headers`.
        7 => {
            let len = rng.random_range(1..300);
            let mut value = b"Bearer ".to_vec();
            value.extend(random_bytes(rng, len));
            return raw_request("GET", "/api/orders", &[("authorization", &value)]);
        }
        // Random printable junk, spaces and commas included.
        8 => {
            let len = rng.random_range(1..300);
            (0..len).map(|_| rng.random_range(0x20u8..0x7f) as char).collect()
        }
        // Oversized: past `max_token_bytes`, up to 5x it.
        _ => {
            let len = rng.random_range(MAX_TOKEN_BYTES + 1..5 * MAX_TOKEN_BYTES);
            let raw = random_bytes(rng, len * 3 / 4 + 3);
            let text = b64(&raw);
            let (a, rest) = text.split_at(text.len() / 3);
            let (b, c) = rest.split_at(rest.len() / 2);
            format!("{a}.{b}.{c}")
        }
    };
    let auth = format!("Bearer {token}");
    request("GET", "/api/orders", &[("authorization", &auth)])
}

fn bearer(token: &str) -> CheckRequest {
    let auth = format!("Bearer {token}");
    request("GET", "/api/orders", &[("authorization", &auth)])
}

/// VmRSS of this process (gatehouse included), in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    parse_status(&status).resident_memory_bytes.expect("VmRSS in /proc/self/status")
}

/// User plus system CPU time of this process so far, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    parse_stat(&stat).expect("/proc/self/stat parses").cpu_seconds()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// What the burst saw.
#[derive(Default)]
struct Tally {
    allowed: usize,
    /// Denies of invalid tokens by (HTTP status, reason).
    denied: BTreeMap<(i32, String), usize>,
    /// Time the client spent making requests (summed over workers).
    generating: Duration,
}

/// Asserts the response for request kind `kind` and records it.
fn judge(kind: Kind, response: &CheckResponse, tally: &mut Tally) {
    match kind {
        Kind::Valid(n) => {
            let allowed = ok(response);
            let sub = format!("user-{}", n % VALID_TOKENS);
            assert_eq!(header(&allowed.headers, "x-user-id"), Some(sub.as_str()), "{allowed:?}");
            tally.allowed += 1;
        }
        Kind::Attacker | Kind::Garbage(_) => {
            let (status, _, _) = denied(response);
            let reason = response.status.as_ref().map(|s| s.message.clone()).unwrap_or_default();
            *tally.denied.entry((status, reason)).or_default() += 1;
        }
    }
}

// 110k Checks: about 20 s in a release build; too slow for the debug test run.
#[cfg_attr(debug_assertions, ignore = "run in release: cargo test --release --test it flood")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_random_tokens_and_kids_stays_bounded() {
    let real = SigningKey::generate(Algorithm::ES256, KID).unwrap();
    let attacker = Arc::new(SigningKey::generate(Algorithm::ES256, "attacker").unwrap());
    let idp = Idp::start(Mode::Serve(jwks_json(&[&real]))).await;
    let gatehouse = Gatehouse::start(&config(&idp.uri())).await;
    gatehouse.wait_ready(Duration::from_secs(5)).await;
    let valid: Arc<Vec<String>> =
        Arc::new((0..VALID_TOKENS).map(|n| real.mint(&claims_of(&format!("user-{n}"))).unwrap()).collect());

    let mut clients = Vec::new();
    for _ in 0..CHANNELS {
        clients
            .push(AuthorizationClient::connect(format!("http://{}", gatehouse.grpc)).await.expect("connect"));
    }
    let total = total();
    let valid_count = (0..total).filter(|&i| matches!(kind(i), Kind::Valid(_))).count();
    let attacker_count = (0..total).filter(|&i| kind(i) == Kind::Attacker).count();
    assert_eq!((total - valid_count - attacker_count, attacker_count), (GARBAGE, ATTACKER));

    let text = ops::metrics(gatehouse.http).await;
    let allows_before = sum_metric(&text, "gatehouse_check_requests_total", &[r#"decision="allow""#]);
    let decide_before = (
        sum_metric(&text, "gatehouse_check_duration_seconds_sum", &[]),
        sum_metric(&text, "gatehouse_check_duration_seconds_count", &[]),
    );
    let fetches_before = idp.requests();
    let rss_before = rss();
    let cpu_before = cpu_seconds();
    eprintln!(
        "flood: {total} Checks ({GARBAGE} garbage, {ATTACKER} random-kid, {valid_count} valid) over \
         {CHANNELS} channels x {IN_FLIGHT} in flight; RSS before {:.1} MiB, {fetches_before} JWKS \
         fetch(es) so far",
        mib(rss_before),
    );

    let next = Arc::new(AtomicUsize::new(0));
    // The resident set a tenth of the way through.
    let warm_rss = Arc::new(AtomicU64::new(0));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for client in &clients {
        for _ in 0..IN_FLIGHT {
            let (mut client, next, tally) = (client.clone(), next.clone(), tally.clone());
            let warm_rss = warm_rss.clone();
            let (valid, attacker) = (valid.clone(), attacker.clone());
            workers.spawn(async move {
                let mut mine = Tally::default();
                // Fast and `Send`; seeded from the thread's CSPRNG.
                let mut rng = SmallRng::from_rng(&mut rand::rng());
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    if i == total / 10 {
                        warm_rss.store(rss(), Ordering::Relaxed);
                    }
                    let kind = kind(i);
                    let making = Instant::now();
                    let request = {
                        match kind {
                            Kind::Valid(n) => bearer(&valid[n % VALID_TOKENS]),
                            Kind::Attacker => {
                                let header =
                                    json!({ "alg": "ES256", "typ": "JWT", "kid": random_kid(&mut rng) });
                                let payload = claims_of(&format!("mallory-{:x}", rng.random::<u64>()));
                                let token = attacker
                                    .sign_raw(header.to_string().as_bytes(), payload.to_string().as_bytes())
                                    .unwrap();
                                bearer(&token)
                            }
                            Kind::Garbage(j) => garbage(&mut rng, j),
                        }
                    };
                    mine.generating += making.elapsed();
                    let response = client
                        .check(request)
                        .await
                        .unwrap_or_else(|status| {
                            panic!("request {i} ({kind:?}) failed at the RPC level: {status:?}")
                        })
                        .into_inner();
                    judge(kind, &response, &mut mine);
                }
                let mut tally = tally.lock().unwrap();
                tally.allowed += mine.allowed;
                tally.generating += mine.generating;
                for (key, n) in mine.denied {
                    *tally.denied.entry(key).or_default() += n;
                }
            });
        }
    }
    // A line every 15 s, so a slow run shows how far it got.
    let progress = {
        let next = next.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(15));
            tick.tick().await;
            loop {
                tick.tick().await;
                let done = next.load(Ordering::Relaxed).min(total);
                eprintln!(
                    "flood: {done}/{total} Checks sent after {:.0?}, RSS {:.1} MiB",
                    started.elapsed(),
                    mib(rss())
                );
            }
        })
    };
    let burst = async {
        while let Some(worker) = workers.join_next().await {
            worker.expect("a worker panicked (see above)");
        }
    };
    let finished = tokio::time::timeout(DEADLINE, burst).await;
    progress.abort();
    if finished.is_err() {
        let done = next.load(Ordering::Relaxed).min(total);
        panic!("the burst did not finish within {DEADLINE:?}: {done} of {total} Checks sent");
    }
    let elapsed = started.elapsed();
    let cpu = cpu_seconds() - cpu_before;
    let rss_after = rss();
    let fetches = idp.requests() - fetches_before;

    let tally = std::mem::take(&mut *tally.lock().unwrap());
    let rate = total as f64 / elapsed.as_secs_f64();
    let growth = rss_after.saturating_sub(rss_before);
    let warm_rss = warm_rss.load(Ordering::Relaxed);
    let late_growth = rss_after.saturating_sub(warm_rss);
    eprintln!(
        "flood: {total} Checks in {elapsed:.2?}: {rate:.0} Checks/s; {cpu:.1} CPU-s used by the test \
         process (client and server), {:.0} µs of CPU per Check",
        cpu / total as f64 * 1e6
    );
    eprintln!("flood: denies by (status, reason): {:?}", tally.denied);
    eprintln!(
        "flood: {fetches} JWKS fetches during the burst (bound {:.1})",
        elapsed.as_secs_f64() / 1.0 + 2.0
    );
    eprintln!(
        "flood: RSS before {:.1} MiB, after {:.1} MiB, growth {:.1} MiB; {:.1} MiB a tenth of the way \
         through, so {:.1} MiB of growth over the last 90%",
        mib(rss_before),
        mib(rss_after),
        mib(growth),
        mib(warm_rss),
        mib(late_growth)
    );

    // Every valid token allowed, every other one denied, nothing lost.
    assert_eq!(tally.allowed, valid_count, "every valid token is allowed");
    let denied: usize = tally.denied.values().sum();
    assert_eq!(denied, GARBAGE + ATTACKER, "every invalid token is denied");
    let unavailable: usize =
        tally.denied.iter().filter(|((status, _), _)| *status >= 500).map(|(_, n)| n).sum();
    assert_eq!(unavailable, 0, "no deny for lack of keys or capacity: {:?}", tally.denied);
    let text = ops::metrics(gatehouse.http).await;
    let allows =
        sum_metric(&text, "gatehouse_check_requests_total", &[r#"decision="allow""#]) - allows_before;
    assert_eq!(allows as usize, valid_count, "gatehouse itself counted exactly the valid tokens as allows");
    let decide = sum_metric(&text, "gatehouse_check_duration_seconds_sum", &[]) - decide_before.0;
    let decided = sum_metric(&text, "gatehouse_check_duration_seconds_count", &[]) - decide_before.1;
    eprintln!(
        "flood: server-side decide time {decide:.2} s in all ({:.0} µs per Check); client-side request \
         making {:.2?} in all",
        decide / decided * 1e6,
        tally.generating
    );

    // The unknown-kid cooldown (min_refresh_interval: 1s) held; and the flood
    // did reach it (the first random kid fetches at once).
    assert!(
        fetches as f64 <= elapsed.as_secs_f64() / 1.0 + 2.0,
        "{fetches} JWKS fetches in {elapsed:?}: the unknown-kid rate limit is one per second"
    );
    assert!(fetches >= 1, "110,000 unknown or garbage kids caused no fetch at all");

    // The verified-token cache is not in /metrics, so its size shows only in
    // the resident set: 110,000 distinct invalid tokens must not stay behind.
    let resident = sum_metric(&text, "process_resident_memory_bytes", &[]);
    eprintln!("flood: /metrics process_resident_memory_bytes {:.1} MiB", mib(resident as u64));
    assert!(
        growth < MAX_RSS_GROWTH,
        "RSS grew by {:.1} MiB over the burst ({:.1} -> {:.1} MiB)",
        mib(growth),
        mib(rss_before),
        mib(rss_after)
    );
    assert!(warm_rss > 0, "the resident set was sampled a tenth of the way through");
    assert!(
        late_growth < MAX_LATE_RSS_GROWTH,
        "RSS grew by {:.1} MiB over the last 90% of the burst ({:.1} -> {:.1} MiB): the flood leaves \
         something behind per token",
        mib(late_growth),
        mib(warm_rss),
        mib(rss_after)
    );

    // Still serving normally afterwards.
    let mut client = clients.pop().unwrap();
    let after = client.check(bearer(&valid[0])).await.expect("Check").into_inner();
    assert_eq!(header(&ok(&after).headers, "x-user-id"), Some("user-0"));
    drop(clients);
    drop(client);
    gatehouse.stop().await;
}
