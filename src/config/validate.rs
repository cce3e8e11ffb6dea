//! Semantic checks over a structurally valid [`Config`]. Every problem is
//! collected, each with the key path a user can find in the file.

use std::collections::HashSet;
use std::net::IpAddr;

use std::time::Duration;

use super::{Config, JwksConfig, LimitsConfig, Problem, ProviderConfig, TokenSourceConfig};
use crate::keys::Algorithm;

/// Longest `clock_skew` accepted: beyond this, expiry would barely mean anything.
const MAX_CLOCK_SKEW_SECS: u64 = 3600;
/// Upper bound of `jwks.max_stale` ("forever" in practice; the cache cannot hold longer).
const MAX_STALE_LIMIT: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
const TOKEN_BYTES_RANGE: std::ops::RangeInclusive<usize> = 256..=1024 * 1024;
/// Longest `limits.unknown_kid_wait`: Envoy gives up on a Check long before.
const MAX_UNKNOWN_KID_WAIT: Duration = Duration::from_secs(10);

/// Headers gatehouse must never set or strip on the upstream request: routing,
/// framing and hop-by-hop headers, which would corrupt the request.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
    "keep-alive",
];

pub fn validate(config: &Config) -> Vec<Problem> {
    let mut problems = Vec::new();
    if config.providers.is_empty() {
        problems.push(Problem::new("providers", "at least one provider is required"));
    }
    // A header any provider reads a token from can never carry identity:
    // stripping it as an identity header would drop another provider's token.
    let token_headers: HashSet<String> = config
        .providers
        .iter()
        .flat_map(|p| p.token_sources.iter().filter_map(|s| s.header.as_deref()))
        .map(str::to_ascii_lowercase)
        .collect();
    let mut names = HashSet::new();
    for (index, provider) in config.providers.iter().enumerate() {
        let path = format!("providers[{index}]");
        if !names.insert(provider.name.as_str()) {
            problems.push(Problem::new(
                format!("{path}.name"),
                format!("duplicate provider name `{}`", provider.name),
            ));
        }
        check_provider(&path, provider, &mut problems);
        check_identity_headers(&path, provider, &token_headers, &mut problems);
    }
    super::validate_rules::check_rules(&config.rules, &names, &mut problems);
    if config.cache.enabled && config.cache.max_entries == 0 {
        problems.push(Problem::new("cache.max_entries", "must be at least 1 (or set `enabled: false`)"));
    }
    if config.cache.enabled && config.cache.max_bytes < 1024 * 1024 {
        problems.push(Problem::new("cache.max_bytes", "must be at least 1048576 (1 MiB)"));
    }
    if !(Duration::from_secs(1)..=Duration::from_secs(24 * 3600)).contains(&config.cache.max_ttl) {
        problems.push(Problem::new("cache.max_ttl", "must be between 1s and 24h"));
    }
    check_dynamic_metadata(&config.dynamic_metadata, &mut problems);
    check_limits(&config.limits, &mut problems);
    problems
}

fn check_limits(limits: &LimitsConfig, problems: &mut Vec<Problem>) {
    if limits.max_headers < 10 {
        problems.push(Problem::new("limits.max_headers", "must be at least 10"));
    }
    if limits.max_header_bytes < 8 * 1024 {
        problems.push(Problem::new("limits.max_header_bytes", "must be at least 8192"));
    }
    if limits.max_concurrent_checks == 0 {
        problems.push(Problem::new("limits.max_concurrent_checks", "must be at least 1"));
    }
    if !TOKEN_BYTES_RANGE.contains(&limits.max_token_bytes) {
        problems.push(Problem::new("limits.max_token_bytes", "must be between 256 and 1048576"));
    }
    if limits.unknown_kid_wait.is_zero() || limits.unknown_kid_wait > MAX_UNKNOWN_KID_WAIT {
        problems.push(Problem::new("limits.unknown_kid_wait", "must be more than 0 and at most 10s"));
    }
    // Waiters must leave permits free, or a flood of unknown `kid`s could
    // again turn away every Check whose key is cached.
    match limits.max_unknown_kid_waiters {
        Some(0) => problems.push(Problem::new("limits.max_unknown_kid_waiters", "must be at least 1")),
        Some(n) if n >= limits.max_concurrent_checks => problems.push(Problem::new(
            "limits.max_unknown_kid_waiters",
            format!("must be less than `limits.max_concurrent_checks` ({})", limits.max_concurrent_checks),
        )),
        _ => {}
    }
}

fn check_provider(path: &str, provider: &ProviderConfig, problems: &mut Vec<Problem>) {
    let name_ok = !provider.name.is_empty()
        && provider
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !name_ok {
        problems.push(Problem::new(
            format!("{path}.name"),
            "must be non-empty and use only a-z, 0-9, `-` and `_`",
        ));
    }
    if provider.issuer.is_empty() {
        problems.push(Problem::new(format!("{path}.issuer"), "must not be empty"));
    }
    if provider.audiences.iter().any(String::is_empty) {
        problems.push(Problem::new(format!("{path}.audiences"), "audiences must not be empty strings"));
    }
    check_key_source(path, provider, problems);
    if provider.clock_skew.as_secs() > MAX_CLOCK_SKEW_SECS {
        problems.push(Problem::new(format!("{path}.clock_skew"), "must be at most 1h"));
    }
    if provider.max_lifetime.is_some_and(|d| d.is_zero()) {
        problems.push(Problem::new(format!("{path}.max_lifetime"), "must be greater than zero"));
    }
    check_token_sources(path, &provider.token_sources, problems);
}

/// Exactly one key source, and algorithms that fit it: an HMAC provider never
/// accepts an asymmetric algorithm and a JWKS provider never an HMAC one unless
/// its keys are local (`file`/`inline`), never fetched over the network.
fn check_key_source(path: &str, provider: &ProviderConfig, problems: &mut Vec<Problem>) {
    let algorithms = provider.algorithms.as_deref();
    if let Some(algs) = algorithms {
        let path = format!("{path}.algorithms");
        if algs.is_empty() {
            problems.push(Problem::new(&path, "must list at least one algorithm (omit it for the default)"));
        }
        if algs.iter().collect::<HashSet<_>>().len() != algs.len() {
            problems.push(Problem::new(&path, "lists an algorithm twice"));
        }
        if algs.iter().any(|a| a.is_symmetric()) && algs.iter().any(|a| !a.is_symmetric()) {
            problems
                .push(Problem::new(&path, "mixes HMAC (HS*) and asymmetric algorithms; use two providers"));
        }
    }
    let symmetric = algorithms.is_some_and(|algs| algs.iter().any(|a| a.is_symmetric()));
    match (&provider.jwks, &provider.hmac_secret) {
        (Some(_), Some(_)) | (None, None) => {
            problems.push(Problem::new(path, "set exactly one of `jwks` and `hmac_secret`"));
        }
        (Some(jwks), None) => {
            check_jwks(&format!("{path}.jwks"), jwks, problems);
            if symmetric && jwks.is_remote() {
                problems.push(Problem::new(
                    format!("{path}.algorithms"),
                    "HMAC algorithms need a local secret (`hmac_secret`, or a `file`/`inline` JWKS), never a remote JWKS",
                ));
            }
        }
        (None, Some(secret)) => {
            if algorithms.is_some_and(|algs| algs.iter().any(|a| !a.is_symmetric())) {
                problems.push(Problem::new(
                    format!("{path}.algorithms"),
                    "an `hmac_secret` provider only accepts HS256/384/512",
                ));
            }
            let sources = usize::from(secret.env.is_some()) + usize::from(secret.file.is_some());
            if sources != 1 {
                problems
                    .push(Problem::new(format!("{path}.hmac_secret"), "set exactly one of `env` and `file`"));
            }
        }
    }
}

fn check_jwks(path: &str, jwks: &JwksConfig, problems: &mut Vec<Problem>) {
    let locations =
        [jwks.uri.is_some(), jwks.discovery.is_some(), jwks.file.is_some(), jwks.inline.is_some()];
    if locations.iter().filter(|set| **set).count() != 1 {
        problems.push(Problem::new(path, "set exactly one of `uri`, `discovery`, `file` and `inline`"));
    }
    for (key, value) in [("uri", &jwks.uri), ("discovery", &jwks.discovery)] {
        if let Some(url) = value {
            if let Err(message) = check_fetch_url(url, jwks.allow_http) {
                problems.push(Problem::new(format!("{path}.{key}"), message));
            }
        }
    }
    let at_least = |key: &str, value: Duration, min: Duration, problems: &mut Vec<Problem>| {
        if value < min {
            problems.push(Problem::new(
                format!("{path}.{key}"),
                format!("must be at least {}", humantime::format_duration(min)),
            ));
        }
    };
    at_least("refresh_interval", jwks.refresh_interval, Duration::from_secs(1), problems);
    let min_refresh = jwks.effective_min_refresh_interval();
    at_least("min_refresh_interval", min_refresh, Duration::from_secs(1), problems);
    at_least("timeout", jwks.timeout, Duration::from_millis(1), problems);
    at_least("max_stale", jwks.max_stale, jwks.refresh_interval, problems);
    if jwks.max_stale > MAX_STALE_LIMIT {
        problems.push(Problem::new(format!("{path}.max_stale"), "must be at most 100y"));
    }
    if min_refresh > jwks.refresh_interval {
        problems
            .push(Problem::new(format!("{path}.min_refresh_interval"), "must not exceed `refresh_interval`"));
    }
    if !(1024..=64 * 1024 * 1024).contains(&jwks.max_bytes) {
        problems.push(Problem::new(format!("{path}.max_bytes"), "must be between 1024 and 67108864"));
    }
}

/// Keys must travel over TLS, except to this host (sidecar IdPs, tests, demos)
/// or where the operator said `allow_http: true`.
pub(crate) fn check_fetch_url(uri: &str, allow_http: bool) -> Result<(), String> {
    let url = reqwest::Url::parse(uri).map_err(|e| format!("not a valid URL: {e}"))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_http || is_loopback(&url) => Ok(()),
        "http" => Err("must use https (plain http only to loopback, or with `allow_http: true`)".to_owned()),
        other => Err(format!("unsupported scheme `{other}`, use https")),
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

fn check_token_sources(path: &str, sources: &[TokenSourceConfig], problems: &mut Vec<Problem>) {
    if sources.is_empty() {
        problems.push(Problem::new(format!("{path}.token_sources"), "must list at least one source"));
    }
    for (index, source) in sources.iter().enumerate() {
        let path = format!("{path}.token_sources[{index}]");
        let kinds = [&source.header, &source.cookie, &source.query].iter().filter(|s| s.is_some()).count();
        if kinds != 1 {
            problems.push(Problem::new(&path, "set exactly one of `header`, `cookie` and `query`"));
        }
        if source.prefix.is_some() && source.header.is_none() {
            problems.push(Problem::new(format!("{path}.prefix"), "only applies to a `header` source"));
        }
        if let Some(header) = &source.header {
            if !is_header_name(header) {
                problems.push(Problem::new(format!("{path}.header"), "not a valid HTTP header name"));
            }
        }
        for (key, name) in [("cookie", &source.cookie), ("query", &source.query)] {
            if name.as_deref().is_some_and(str::is_empty) {
                problems.push(Problem::new(format!("{path}.{key}"), "must not be empty"));
            }
        }
    }
}

fn check_identity_headers(
    path: &str,
    provider: &ProviderConfig,
    token_headers: &HashSet<String>,
    problems: &mut Vec<Problem>,
) {
    let mut seen = HashSet::new();
    let mut check = |key_path: String, header: &str, problems: &mut Vec<Problem>| {
        let lower = header.to_ascii_lowercase();
        if !is_header_name(header) {
            problems.push(Problem::new(key_path, "not a valid HTTP header name"));
        } else if RESERVED_HEADERS.contains(&lower.as_str()) {
            problems.push(Problem::new(key_path, format!("`{lower}` is reserved and cannot carry identity")));
        } else if token_headers.contains(&lower) {
            problems
                .push(Problem::new(key_path, format!("`{lower}` is where a provider reads its token from")));
        } else if !seen.insert(lower.clone()) {
            problems.push(Problem::new(key_path, format!("header `{lower}` is set twice")));
        }
    };
    for (index, mapping) in provider.claims_to_headers.iter().enumerate() {
        let entry = format!("{path}.claims_to_headers[{index}]");
        if mapping.claim.is_empty() || mapping.claim.split('.').any(str::is_empty) {
            problems.push(Problem::new(
                format!("{entry}.claim"),
                "must be a claim name or a dotted path like `org.id`",
            ));
        }
        check(format!("{entry}.header"), &mapping.header, problems);
    }
    if let Some(header) = &provider.payload_header {
        check(format!("{path}.payload_header"), header, problems);
    }
}

/// RFC 9110 token characters; pseudo-headers (`:path`) are not settable.
pub(crate) fn is_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Used by the compiler in `authz`: the algorithms a provider accepts.
pub(crate) fn effective_algorithms(provider: &ProviderConfig) -> Vec<Algorithm> {
    match (&provider.algorithms, &provider.hmac_secret) {
        (Some(algs), _) => algs.clone(),
        (None, Some(_)) => vec![Algorithm::HS256],
        (None, None) => Algorithm::ALL.into_iter().filter(|a| !a.is_symmetric()).collect(),
    }
}

/// Compiles a user regex anchored at both ends, with a bounded program size
/// so a hostile or careless pattern cannot blow up memory.
pub fn anchored_regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
    let build =
        |text: &str| regex::RegexBuilder::new(text).size_limit(1 << 20).dfa_size_limit(1 << 20).build();
    // The pattern must be valid on its own: `a)|(b` would otherwise close our
    // group early and leave the `b` branch unanchored.
    build(pattern)?;
    build(&format!("^(?:{pattern})$"))
}

/// Keys gatehouse itself writes into the allow metadata.
const RESERVED_METADATA_KEYS: &[&str] = &["decision", "rule", "provider", "reason", "claims"];

fn check_dynamic_metadata(metadata: &super::DynamicMetadataConfig, problems: &mut Vec<Problem>) {
    let mut seen = HashSet::new();
    for (index, claim) in metadata.claims.iter().enumerate() {
        let path = format!("dynamic_metadata.claims[{index}]");
        if claim.is_empty() || claim.split('.').any(str::is_empty) {
            problems.push(Problem::new(path, "must be a claim name or a dotted path like `org.id`"));
        } else if RESERVED_METADATA_KEYS.contains(&claim.as_str()) {
            problems.push(Problem::new(path, format!("`{claim}` is a key gatehouse sets itself")));
        } else if !seen.insert(claim.as_str()) {
            problems.push(Problem::new(path, format!("duplicate claim `{claim}`")));
        }
    }
}
