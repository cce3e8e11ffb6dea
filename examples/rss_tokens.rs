//! Memory held by the verified-token cache: builds gatehouse's `Policy` in
//! process (one HS256 provider, the shipped cache settings unless told
//! otherwise), mints N distinct HS256 tokens, decides each once through
//! `authz::evaluate` and renders each answer as the gRPC server does (so every
//! cache entry also holds its rendered dynamic metadata), then reports its own
//! RSS. `loadtest/load.sh` runs it; with the allocator `gatehouse` ships
//! (mimalloc, unless built with `--no-default-features`).
//!
//! ```sh
//! cargo run --release --example rss_tokens -- [COUNT] [MAX_ENTRIES]
//! ```

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use anyhow::Context;
use serde_json::json;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use gatehouse::internals::{cached_tokens, evaluate, start_policy, to_check_response, Decision, HttpRequest};
use gatehouse_testkit::{specs, unix_now, SigningKey};

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().map_or(Ok(1_000_000), |a| a.parse()).context("COUNT")?;
    let max_entries: Option<u64> = args.next().map(|a| a.parse()).transpose().context("MAX_ENTRIES")?;

    // A printable secret: a secret file loses trailing newline bytes, so random bytes would not do.
    let secret: String = (0..64).map(|i| char::from(b'a' + ((i * 7 + 3) % 26) as u8)).collect();
    let key_file = json!({ "alg": "HS256", "kid": "rss", "secret": STANDARD.encode(&secret) });
    let key = SigningKey::from_json(&key_file.to_string())?;
    let secret_path = std::env::temp_dir().join(format!("rss-tokens-{}.secret", std::process::id()));
    std::fs::write(&secret_path, secret)?;
    // MAX_ENTRIES lifts the byte budget out of the way (16 KiB per entry), so
    // the entry count decides and the real cost per entry shows.
    let mut cache = match max_entries {
        Some(n) => format!("cache: {{ max_entries: {n}, max_bytes: {} }}\n", n.saturating_mul(16 * 1024)),
        None => String::new(),
    };
    // RSS_TOKENS_ALL_CLAIMS=1: `dynamic_metadata.all_claims`, every entry also
    // holds its claims rendered for the metadata.
    let all_claims = std::env::var_os("RSS_TOKENS_ALL_CLAIMS").is_some();
    if all_claims {
        cache.push_str("dynamic_metadata: { all_claims: true }\n");
    }
    let yaml = format!(
        r#"providers:
  - name: bench
    issuer: https://gatehouse.local
    audiences: [orders-api]
    algorithms: [HS256]
    hmac_secret: {{ file: "{}" }}
    claims_to_headers:
      - {{ claim: sub, header: x-user-id }}
rules:
  - match: {{ path_prefix: / }}
    require: {{ providers: [bench] }}
{cache}"#,
        secret_path.display()
    );
    let policy = start_policy(specs(&yaml))?;
    let _ = std::fs::remove_file(&secret_path);

    let rss_before = status_kib("VmRSS:");
    let now = unix_now();
    let started = Instant::now();
    let mut allowed = 0usize;
    for i in 0..count {
        // The same claim set bench_util mints (a ~330-byte payload).
        let claims = json!({
            "iss": "https://gatehouse.local",
            "sub": format!("user-{i:07}"),
            "aud": "orders-api",
            "azp": "web-frontend",
            "iat": now - 30,
            "nbf": now - 30,
            "exp": now + 7200,
            "jti": format!("rss-{now}-{i}"),
            "scope": "openid profile orders:read orders:write",
            "email": format!("user-{i:07}@example.com"),
            "org": { "id": "org-42", "name": "Example Corp" },
            "roles": ["buyer"],
        });
        let token = key.mint(&claims)?;
        let header = format!("Bearer {token}");
        let request = HttpRequest {
            method: "GET",
            host: "api.example.com",
            path: "/api/orders/42",
            headers: vec![("authorization", header.as_bytes())].into(),
            context_extensions: None,
        };
        let decision = evaluate(&policy, &request, now);
        if matches!(decision, Decision::Allow(_)) {
            allowed += 1;
        }
        // Renders the answer as a live Check does (with `all_claims`, this
        // fills the cached token's rendered claims).
        std::hint::black_box(to_check_response(&decision));
    }
    let elapsed = started.elapsed();
    let entries = cached_tokens(&policy).unwrap_or(0);
    let rss_after = status_kib("VmRSS:");
    let hwm = status_kib("VmHWM:");
    let per_entry = (rss_after.saturating_sub(rss_before) * 1024).checked_div(entries).unwrap_or(0);
    println!(
        "tokens={count} allowed={allowed} all_claims={all_claims} cache_entries={entries} \
         rss_before_kib={rss_before} rss_after_kib={rss_after} hwm_kib={hwm} bytes_per_entry={per_entry} \
         seconds={:.1} cache={}",
        elapsed.as_secs_f64(),
        cache.trim().replace('\n', "; ")
    );
    anyhow::ensure!(allowed == count, "{} of {count} tokens were denied", count - allowed);
    Ok(())
}
