//! Heap allocations per Check on a cache hit, counted by a global allocator
//! that wraps the system one: the request decoded from bytes, translated
//! and decided, the answer written into the response buffer (which tonic
//! reuses). A cache hit allocates only what prost's decoded request needs:
//! the decision and the answer nothing; the bounds below are
//! today's counts, so a change that adds allocations to the hot path fails
//! here (this runs once under `cargo test --all-targets`).
//!
//! Run with `cargo bench --bench allocations` to print the counts.

use std::alloc::System;

use gatehouse::internals::wire::CheckRequest;
use gatehouse::internals::{evaluate, from_yaml, start_policy, to_http_request, write_answer, Decision};
use gatehouse_testkit::{bearer, es256_key, inline_jwks, request, token, unix_now, CorpConfig};
use prost::Message;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

/// Counts every allocation the process makes (the system allocator underneath).
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const ROUNDS: u64 = 1_000;

/// Allocations per call of `f`, over [`ROUNDS`] calls.
fn per_call(mut f: impl FnMut()) -> f64 {
    let region = Region::new(GLOBAL);
    for _ in 0..ROUNDS {
        f();
    }
    let change = region.change();
    (change.allocations + change.reallocations) as f64 / ROUNDS as f64
}

fn main() {
    let key = es256_key("k1");
    let specs =
        from_yaml(&CorpConfig::new(format!("inline: '{}'", inline_jwks(&[&key]))).yaml()).expect("config");
    let policy = start_policy(specs).expect("policy");
    let auth = bearer(&token(&key));
    let headers = [
        ("authorization", auth.as_str()),
        ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"),
        ("accept", "application/json, text/plain, */*"),
        ("accept-language", "en-GB,en;q=0.9"),
        ("x-request-id", "3f2b8c1e-7d4a-4b6e-9c2f-1a5d8e7b6c4d"),
        ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    ];
    let bytes = request("GET", "/api/orders/42", &headers).encode_to_vec();
    let now = unix_now();
    let check = CheckRequest::decode(bytes.as_slice()).expect("decodes");
    let http = check
        .attributes
        .as_ref()
        .and_then(|a| a.request.as_ref())
        .and_then(|r| r.http.as_ref())
        .expect("http attributes");
    // The first Check verifies and caches the token; every one measured below is a hit.
    assert!(matches!(evaluate(&policy, &to_http_request(&check, http), now), Decision::Allow(_)));

    let decode = per_call(|| drop(CheckRequest::decode(bytes.as_slice()).expect("decodes")));
    let decide = per_call(|| drop(evaluate(&policy, &to_http_request(&check, http), now)));
    let decision = evaluate(&policy, &to_http_request(&check, http), now);
    let mut buffer = Vec::with_capacity(4096);
    let answer = per_call(|| {
        buffer.clear();
        write_answer(&decision, &mut buffer);
    });
    assert!(!buffer.is_empty(), "an answer was written");
    println!(
        "allocations per cache-hit Check: decode {decode:.1}, translate + decide {decide:.1}, \
         answer {answer:.1}; total {:.1}",
        decode + decide + answer
    );
    // Today's counts (see above); raise a bound only with a reason.
    for (stage, count, bound) in
        [("decode", decode, 17.0), ("translate + decide", decide, 8.0), ("answer", answer, 0.0)]
    {
        assert!(count <= bound, "{stage}: {count} allocations per Check, the bound is {bound}");
    }
}
