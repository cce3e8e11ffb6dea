//! The one step from a parsed [`Config`] to the specs the layers below run
//! on. Every problem is collected, each with the key path a user can find in
//! the file; the specs exist only when there is none.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use super::build_credentials::build_credentials;
use super::build_keys::key_location;
use super::build_revocation::build_revocation;
use super::build_rules::{build_rules, fallback_rules};
use super::{AdminSettings, Config, LimitsConfig, Problem, ProviderConfig, ServerConfig, TokenSourceConfig};
use crate::authz::{
    CacheSettings, ClaimPath, Limits, MetadataSpec, PolicySpec, ProviderId, ProviderSpec, Routing,
    TokenSource, Validation,
};
use crate::keys::KeysSpec;
use crate::revocation::RevocationSpec;
use crate::telemetry::ExportSettings;

/// Longest `clock_skew` accepted: beyond this, expiry would barely mean anything.
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(3600);
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

/// Keys gatehouse itself writes into the allow metadata.
const RESERVED_METADATA_KEYS: &[&str] = &["decision", "rule", "provider", "reason", "claims"];

/// A configuration, checked and built: what `app` starts and `reload` swaps in.
#[derive(Debug)]
pub struct Specs {
    /// The decision core's part.
    pub(crate) policy: PolicySpec,
    /// One per provider, in the order of `policy.providers`.
    pub(crate) keys: Vec<KeysSpec>,
    /// Listen addresses and shutdown timing (a reload cannot change them).
    pub server: ServerConfig,
    /// Span export, when `telemetry.otlp_endpoint` is set (a reload cannot change it).
    pub(crate) telemetry: Option<ExportSettings>,
    /// Log every decision at `info` rather than `debug`.
    pub(crate) decision_log: bool,
    /// Checks decided at once (`limits.max_concurrent_checks`).
    pub(crate) max_concurrent_checks: usize,
    /// Revocations, when `revocation` is set.
    pub(crate) revocation: Option<RevocationSpec>,
    /// The admin listener, when `revocation.admin` is set.
    pub admin: Option<AdminSettings>,
    /// What the file allows but should not (printed by `check-config`, logged at start).
    pub(crate) warnings: Vec<Problem>,
    /// Advice on settings worth turning on (printed by `check-config` only).
    pub(crate) notes: Vec<Problem>,
}

impl Specs {
    /// What the file allows but should not.
    pub(crate) fn warnings(&self) -> &[Problem] {
        &self.warnings
    }

    /// Advice on settings worth turning on.
    pub(crate) fn notes(&self) -> &[Problem] {
        &self.notes
    }

    /// How many providers the config has.
    pub fn providers(&self) -> usize {
        self.keys.len()
    }

    /// Sets the concurrency bounds without the checks `build` applies (which
    /// keep waiters below the Check permits): for tests of what the bounds do.
    pub fn set_check_bounds(
        &mut self,
        max_concurrent_checks: usize,
        unknown_kid_waiters: usize,
        wait: Duration,
    ) {
        self.max_concurrent_checks = max_concurrent_checks;
        self.policy.limits.max_unknown_kid_waiters = unknown_kid_waiters;
        self.policy.limits.unknown_kid_wait = wait;
    }
}

/// Checks a parsed configuration and builds its specs.
pub(crate) fn build(config: &Config) -> Result<Specs, Vec<Problem>> {
    let mut problems = Vec::new();
    if config.providers.is_empty() {
        problems.push(Problem::new("providers", "at least one provider is required"));
    }
    // A header any provider reads a token from can never carry identity:
    // stripping it as an identity header would drop another provider's token.
    let token_headers: HashSet<String> = config
        .providers
        .iter()
        .flat_map(|p| p.effective_token_sources().into_iter().filter_map(|s| s.header))
        .map(|header| header.to_ascii_lowercase())
        .collect();
    let (providers, keys, ids) = build_providers(config, &token_headers, &mut problems);
    let rules = build_rules(&config.rules, &ids, &mut problems);
    let cache = build_cache(config, &mut problems);
    let metadata = build_metadata(&config.dynamic_metadata, &mut problems);
    let limits = build_limits(&config.limits, &mut problems);
    let mut warnings = Vec::new();
    let revocation = build_revocation(config, &mut problems, &mut warnings);
    if !problems.is_empty() {
        return Err(problems);
    }
    let (fallback, cors_preflight) = fallback_rules(config);
    Ok(Specs {
        policy: PolicySpec {
            providers,
            routing: Routing {
                rules,
                fallback,
                cors_preflight,
                allow_encoded_slashes: config.allow_encoded_slashes,
            },
            limits,
            cache,
            metadata,
        },
        keys,
        server: config.server.clone(),
        telemetry: export_settings(&config.telemetry),
        decision_log: config.decision_log,
        max_concurrent_checks: config.limits.max_concurrent_checks,
        revocation: revocation.spec,
        admin: revocation.admin,
        warnings,
        notes: super::build_credentials::notes(config),
    })
}

/// Span export: `telemetry.otlp_endpoint`, else the standard
/// `OTEL_EXPORTER_OTLP_ENDPOINT`; `service.name` from `telemetry.service_name`,
/// else `OTEL_SERVICE_NAME` (read when the exporter starts), and further
/// resource attributes from `OTEL_RESOURCE_ATTRIBUTES` (the SDK reads it).
fn export_settings(telemetry: &super::TelemetryConfig) -> Option<ExportSettings> {
    let from_env = || std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok().filter(|e| !e.trim().is_empty());
    let endpoint = telemetry.otlp_endpoint.clone().or_else(from_env)?;
    Some(ExportSettings { endpoint, service_name: telemetry.service_name.clone() })
}

/// Every provider's spec and keys spec, and the id of each name.
fn build_providers<'c>(
    config: &'c Config,
    token_headers: &HashSet<String>,
    problems: &mut Vec<Problem>,
) -> (Vec<ProviderSpec>, Vec<KeysSpec>, HashMap<&'c str, ProviderId>) {
    let mut ids = HashMap::new();
    let (mut providers, mut keys) = (Vec::new(), Vec::new());
    for (index, provider) in config.providers.iter().enumerate() {
        let path = format!("providers[{index}]");
        if ids.insert(provider.name.as_str(), ProviderId(index)).is_some() {
            problems.push(Problem::new(
                format!("{path}.name"),
                format!("duplicate provider name `{}`", provider.name),
            ));
        }
        if let Some((spec, key_spec)) = build_provider(&path, provider, token_headers, problems) {
            providers.push(spec);
            keys.push(key_spec);
        }
    }
    (providers, keys, ids)
}

fn build_cache(config: &Config, problems: &mut Vec<Problem>) -> Option<CacheSettings> {
    let cache = &config.cache;
    if cache.enabled && cache.max_entries == 0 {
        problems.push(Problem::new("cache.max_entries", "must be at least 1 (or set `enabled: false`)"));
    }
    if cache.enabled && cache.max_bytes < 1024 * 1024 {
        problems.push(Problem::new("cache.max_bytes", "must be at least 1048576 (1 MiB)"));
    }
    if !(Duration::from_secs(1)..=Duration::from_secs(24 * 3600)).contains(&cache.max_ttl) {
        problems.push(Problem::new("cache.max_ttl", "must be between 1s and 24h"));
    }
    cache.enabled.then_some(CacheSettings {
        max_entries: cache.max_entries,
        max_bytes: cache.max_bytes,
        max_ttl: cache.max_ttl,
        metrics: Default::default(),
    })
}

fn build_metadata(metadata: &super::DynamicMetadataConfig, problems: &mut Vec<Problem>) -> MetadataSpec {
    let mut seen = HashSet::new();
    let mut claims = Vec::new();
    for (index, claim) in metadata.claims.iter().enumerate() {
        let path = format!("dynamic_metadata.claims[{index}]");
        if !ClaimPath::is_valid(claim) {
            problems.push(Problem::new(path, "must be a claim name or a dotted path like `org.id`"));
        } else if RESERVED_METADATA_KEYS.contains(&claim.as_str()) {
            problems.push(Problem::new(path, format!("`{claim}` is a key gatehouse sets itself")));
        } else if !seen.insert(claim.as_str()) {
            problems.push(Problem::new(path, format!("duplicate claim `{claim}`")));
        } else {
            claims.push((Arc::from(claim.as_str()), ClaimPath::parse(claim)));
        }
    }
    MetadataSpec { claims, all_claims: metadata.all_claims }
}

fn build_limits(limits: &LimitsConfig, problems: &mut Vec<Problem>) -> Limits {
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
    Limits {
        max_token_bytes: limits.max_token_bytes,
        max_headers: limits.max_headers,
        max_header_bytes: limits.max_header_bytes,
        unknown_kid_wait: limits.unknown_kid_wait,
        max_unknown_kid_waiters: limits.unknown_kid_waiters(),
    }
}

/// One provider: its spec and its keys' spec, or `None` after a problem.
fn build_provider(
    path: &str,
    provider: &ProviderConfig,
    token_headers: &HashSet<String>,
    problems: &mut Vec<Problem>,
) -> Option<(ProviderSpec, KeysSpec)> {
    let before = problems.len();
    check_names(path, provider, problems);
    let location = key_location(path, provider, problems);
    if provider.clock_skew > MAX_CLOCK_SKEW {
        problems.push(Problem::new(format!("{path}.clock_skew"), "must be at most 1h"));
    }
    if provider.max_lifetime.is_some_and(|d| d.is_zero()) {
        problems.push(Problem::new(format!("{path}.max_lifetime"), "must be greater than zero"));
    }
    let credentials = build_credentials(path, provider, problems);
    let token_sources = build_token_sources(path, &provider.effective_token_sources(), problems);
    let (claim_headers, payload_header) = build_identity_headers(path, provider, token_headers, problems);
    if problems.len() > before {
        return None;
    }
    let allowed = provider.effective_algorithms();
    let spec = ProviderSpec {
        name: Arc::from(provider.name.as_str()),
        validation: Validation {
            issuer: provider.issuer.clone(),
            audiences: provider.audiences.clone(),
            algorithms: allowed.clone(),
            clock_skew_secs: provider.clock_skew.as_secs(),
            max_lifetime_secs: provider.max_lifetime.map(|d| d.as_secs()),
            require_expiration: provider.require_expiration,
            token_types: credentials.token_types,
        },
        token_sources,
        claim_headers,
        payload_header,
        forward_token: provider.forward_token,
        backchannel_logout: provider.backchannel_logout,
        jws: provider.has_keys(),
    };
    let keys = KeysSpec {
        provider: provider.name.clone(),
        allowed,
        location: location?,
        introspection: credentials.introspection,
        api_keys: credentials.api_keys,
    };
    Some((spec, keys))
}

/// The provider's name (metrics labels, rules), issuer and audiences.
fn check_names(path: &str, provider: &ProviderConfig, problems: &mut Vec<Problem>) {
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
}

fn build_token_sources(
    path: &str,
    sources: &[TokenSourceConfig],
    problems: &mut Vec<Problem>,
) -> Vec<TokenSource> {
    if sources.is_empty() {
        problems.push(Problem::new(format!("{path}.token_sources"), "must list at least one source"));
    }
    let mut built = Vec::with_capacity(sources.len());
    for (index, source) in sources.iter().enumerate() {
        let path = format!("{path}.token_sources[{index}]");
        if source.prefix.is_some() && source.header.is_none() {
            problems.push(Problem::new(format!("{path}.prefix"), "only applies to a `header` source"));
        }
        for (key, name) in [("cookie", &source.cookie), ("query", &source.query)] {
            if name.as_deref().is_some_and(str::is_empty) {
                problems.push(Problem::new(format!("{path}.{key}"), "must not be empty"));
            }
        }
        match (&source.header, &source.cookie, &source.query) {
            (Some(header), None, None) if is_header_name(header) => {
                built.push(TokenSource::header(header, source.prefix.as_deref()))
            }
            (Some(_), None, None) => {
                problems.push(Problem::new(format!("{path}.header"), "not a valid HTTP header name"))
            }
            (None, Some(cookie), None) => built.push(TokenSource::Cookie(cookie.clone())),
            (None, None, Some(query)) => built.push(TokenSource::Query(query.clone())),
            _ => problems.push(Problem::new(&path, "set exactly one of `header`, `cookie` and `query`")),
        }
    }
    built
}

/// Claim → header pairs, and the payload header.
type IdentityHeaders = (Vec<(ClaimPath, Arc<str>)>, Option<Arc<str>>);

/// `claims_to_headers` and `payload_header`: valid header names, lower-cased,
/// none reserved, none a token header, none set twice.
fn build_identity_headers(
    path: &str,
    provider: &ProviderConfig,
    token_headers: &HashSet<String>,
    problems: &mut Vec<Problem>,
) -> IdentityHeaders {
    let mut seen = HashSet::new();
    let mut check = |key_path: String, header: &str, problems: &mut Vec<Problem>| -> Option<Arc<str>> {
        let lower = header.to_ascii_lowercase();
        let problem = if !is_header_name(header) {
            "not a valid HTTP header name".to_owned()
        } else if RESERVED_HEADERS.contains(&lower.as_str()) {
            format!("`{lower}` is reserved and cannot carry identity")
        } else if token_headers.contains(&lower) {
            format!("`{lower}` is where a provider reads its token from")
        } else if !seen.insert(lower.clone()) {
            format!("header `{lower}` is set twice")
        } else {
            return Some(Arc::from(lower));
        };
        problems.push(Problem::new(key_path, problem));
        None
    };
    let mut claim_headers = Vec::new();
    for (index, mapping) in provider.claims_to_headers.iter().enumerate() {
        let entry = format!("{path}.claims_to_headers[{index}]");
        let claim_ok = ClaimPath::is_valid(&mapping.claim);
        if !claim_ok {
            problems.push(Problem::new(
                format!("{entry}.claim"),
                "must be a claim name or a dotted path like `org.id`",
            ));
        }
        let header = check(format!("{entry}.header"), &mapping.header, problems);
        if let (true, Some(header)) = (claim_ok, header) {
            claim_headers.push((ClaimPath::parse(&mapping.claim), header));
        }
    }
    let payload_header =
        provider.payload_header.as_deref().and_then(|h| check(format!("{path}.payload_header"), h, problems));
    (claim_headers, payload_header)
}

/// RFC 9110 token characters; pseudo-headers (`:path`) are not settable.
pub(super) fn is_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
