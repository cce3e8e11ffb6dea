//! The configuration file: serde types with their documented defaults, loading
//! (every structural problem is reported with its key path) and validation
//! (every semantic problem is reported at once).
//!
//! These are plain data. `authz::Policy::compile` turns a validated [`Config`]
//! into the structures the Check path uses.

mod duration;
mod jwks;
mod load;
mod rules;
mod validate;
mod validate_rules;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::keys::Algorithm;

pub use jwks::JwksConfig;
pub use load::{from_yaml, load_file};
pub use rules::{
    AllowMode, ClaimRequirementConfig, HeaderMatchConfig, MatchConfig, RequireConfig, RuleConfig,
};
pub use validate::anchored_regex;
pub(crate) use validate::check_fetch_url;

/// Default for `providers[].token_sources`: the `Authorization: Bearer` header.
pub const DEFAULT_AUTH_HEADER: &str = "authorization";
/// Default for `limits.max_token_bytes`.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Everything that can be wrong with a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}", Problem::list(.0))]
    Invalid(Vec<Problem>),
}

/// One problem, at one key path (e.g. `providers[0].issuer`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }

    fn list(problems: &[Problem]) -> String {
        let lines: Vec<String> = problems.iter().map(|p| format!("{}: {}", p.path, p.message)).collect();
        lines.join("\n")
    }
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listen addresses and shutdown behaviour.
    #[serde(default)]
    pub server: ServerConfig,
    /// Token issuers gatehouse trusts. At least one.
    pub providers: Vec<ProviderConfig>,
    /// Route rules, evaluated in order; the first match decides.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// What happens when no rule matches. Default `deny` (403 `no_matching_rule`).
    #[serde(default)]
    pub default: DefaultAction,
    /// Let CORS preflights (OPTIONS with `Origin` and
    /// `Access-Control-Request-Method`) through without a token. Default `false`.
    #[serde(default)]
    pub bypass_cors_preflight: bool,
    /// Accept paths with `%2F`/`%5C` (kept encoded, not separators) instead
    /// of denying them with 400. Default `false`.
    #[serde(default)]
    pub allow_encoded_slashes: bool,
    /// Input size bounds.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Log one line per decision at `info` (otherwise at `debug`). Default `false`.
    #[serde(default)]
    pub decision_log: bool,
    /// Tracing export.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// The verified-token cache.
    #[serde(default)]
    pub cache: CacheConfig,
    /// What an allow tells Envoy in dynamic metadata.
    #[serde(default)]
    pub dynamic_metadata: DynamicMetadataConfig,
}

/// `dynamic_metadata:` — what an allow puts in Envoy's dynamic metadata
/// (namespace `envoy.filters.http.ext_authz`), for access logs, RBAC and
/// later filters. `decision`, `rule` and `provider` are always there.
///
/// Envoy parses and stores the whole Struct on every request, so the default
/// carries a handful of claims, not the payload.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DynamicMetadataConfig {
    /// Claims copied to the top level, by dotted path (`org.id` becomes the key
    /// `org.id`); absent claims are left out. Default `[sub, iss, scope, scp]`.
    #[serde(default = "default_metadata_claims")]
    pub claims: Vec<String>,
    /// Also put every verified claim under the key `claims`. Default `false`.
    #[serde(default)]
    pub all_claims: bool,
}

fn default_metadata_claims() -> Vec<String> {
    ["sub", "iss", "scope", "scp"].map(str::to_owned).to_vec()
}

impl Default for DynamicMetadataConfig {
    fn default() -> Self {
        Self { claims: default_metadata_claims(), all_claims: false }
    }
}

/// `cache:` — verified tokens, so a token's signature and claims are checked
/// once, not on every request. Rules still run per request.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// Default `true`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Most tokens held. Default 100000.
    #[serde(default = "default_cache_entries")]
    pub max_entries: u64,
    /// Most memory the entries may take, in bytes, by an estimate of each
    /// entry's size (its claims dominate). Whichever of `max_entries` and
    /// `max_bytes` is reached first bounds the cache. Default 268435456 (256 MiB).
    #[serde(default = "default_cache_bytes")]
    pub max_bytes: u64,
    /// Longest an entry lives; never past the token's `exp` minus `clock_skew`. Default `5m`.
    #[serde(default = "default_cache_ttl", with = "duration")]
    pub max_ttl: Duration,
}

fn default_cache_entries() -> u64 {
    100_000
}
fn default_cache_bytes() -> u64 {
    256 * 1024 * 1024
}
fn default_cache_ttl() -> Duration {
    Duration::from_secs(300)
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_entries: default_cache_entries(),
            max_bytes: default_cache_bytes(),
            max_ttl: default_cache_ttl(),
        }
    }
}

/// `telemetry:`
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// OTLP/gRPC collector endpoint (e.g. `http://otel-collector:4317`). Unset: no
    /// spans are exported (a W3C `traceparent` is still honoured in logs).
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    /// `service.name` of exported spans. Default `gatehouse`.
    #[serde(default)]
    pub service_name: Option<String>,
}

/// `server:`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address of the ext_authz gRPC service. Default `0.0.0.0:9001`.
    #[serde(default = "default_grpc_addr")]
    pub grpc_addr: SocketAddr,
    /// Address of `/healthz`, `/readyz` and `/metrics`. Default `0.0.0.0:9090`.
    #[serde(default = "default_http_addr")]
    pub http_addr: SocketAddr,
    /// How long in-flight Checks may take to finish after SIGTERM. Default `10s`.
    #[serde(default = "default_drain_timeout", with = "duration")]
    pub drain_timeout: Duration,
    /// After SIGTERM, how long to keep serving while reporting not ready, so
    /// load balancers (Kubernetes endpoints) stop sending first. Default `0s`.
    #[serde(default, with = "duration")]
    pub shutdown_delay: Duration,
}

fn default_grpc_addr() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 9001))
}
fn default_http_addr() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 9090))
}
fn default_drain_timeout() -> Duration {
    Duration::from_secs(10)
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            grpc_addr: default_grpc_addr(),
            http_addr: default_http_addr(),
            drain_timeout: default_drain_timeout(),
            shutdown_delay: Duration::ZERO,
        }
    }
}

/// `providers[]`: one token issuer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Name used by rules, metrics and logs: `[a-z0-9_-]`, unique.
    pub name: String,
    /// Exact value the token's `iss` must have.
    pub issuer: String,
    /// If non-empty, the token's `aud` must contain one of these.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Pinned algorithms. Default: every asymmetric algorithm for a JWKS
    /// provider, `[HS256]` for an `hmac_secret` provider.
    #[serde(default)]
    pub algorithms: Option<Vec<Algorithm>>,
    /// Where the verification keys come from.
    #[serde(default)]
    pub jwks: Option<JwksConfig>,
    /// A shared secret for HS256/384/512 instead of a JWKS.
    #[serde(default)]
    pub hmac_secret: Option<SecretSource>,
    /// Where to find the token, tried in order. Default: `Authorization: Bearer`.
    #[serde(default = "default_token_sources")]
    pub token_sources: Vec<TokenSourceConfig>,
    /// Leeway for `exp`, `nbf` and `iat`. Default `60s`.
    #[serde(default = "default_clock_skew", with = "duration")]
    pub clock_skew: Duration,
    /// Optional upper bound on `exp - iat`.
    #[serde(default, with = "duration::option")]
    pub max_lifetime: Option<Duration>,
    /// Refuse tokens without `exp`. Default `true`.
    #[serde(default = "default_true")]
    pub require_expiration: bool,
    /// Verified claims copied into upstream request headers.
    #[serde(default)]
    pub claims_to_headers: Vec<ClaimHeaderConfig>,
    /// Optional header carrying the base64url verified payload upstream.
    #[serde(default)]
    pub payload_header: Option<String>,
    /// Keep the token's header on the upstream request. Default `false`: the
    /// upstream sees identity headers, not the credential.
    #[serde(default)]
    pub forward_token: bool,
}

fn default_token_sources() -> Vec<TokenSourceConfig> {
    vec![TokenSourceConfig {
        header: Some(DEFAULT_AUTH_HEADER.to_owned()),
        prefix: Some("Bearer ".to_owned()),
        cookie: None,
        query: None,
    }]
}
fn default_clock_skew() -> Duration {
    Duration::from_secs(60)
}
fn default_true() -> bool {
    true
}

/// A secret read from an environment variable or a file: exactly one of them.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    #[serde(default)]
    pub env: Option<String>,
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// `token_sources[]`: exactly one of `header`, `cookie`, `query`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TokenSourceConfig {
    /// Request header name (case-insensitive).
    #[serde(default)]
    pub header: Option<String>,
    /// Scheme prefix before the token, e.g. `"Bearer "` (matched
    /// case-insensitively, as HTTP auth schemes are). Only with `header`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Cookie name.
    #[serde(default)]
    pub cookie: Option<String>,
    /// Query-string parameter name.
    #[serde(default)]
    pub query: Option<String>,
}

/// `claims_to_headers[]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClaimHeaderConfig {
    /// Claim name; dots walk into nested objects (`org.id`).
    pub claim: String,
    /// Upstream request header to set.
    pub header: String,
}

/// `default:`
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultAction {
    /// 403 with `error: "no_matching_rule"`.
    #[default]
    Deny,
    /// Treat as an anonymous rule.
    AllowAnonymous,
}

/// `limits:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Tokens longer than this are refused before any parsing. Default 8192.
    #[serde(default = "default_max_token_bytes")]
    pub max_token_bytes: usize,
    /// Requests with more header entries than this are refused (400) before
    /// any header is read. Default 500 (Envoy itself defaults to 100).
    #[serde(default = "default_max_headers")]
    pub max_headers: usize,
    /// Requests whose header names and values add up to more than this are
    /// refused (400). Default 96 KiB (Envoy's default limit is 60 KiB).
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: usize,
    /// Checks decided at once; beyond this a Check is denied at once with 503
    /// (never allowed, never queued without bound). Default 10000.
    #[serde(default = "default_max_concurrent_checks")]
    pub max_concurrent_checks: usize,
    /// Longest a Check whose token names an unknown `kid` waits for the
    /// shared JWKS refresh that may load it (the fetch itself runs on). Keep
    /// it below Envoy's ext_authz timeout: a wait Envoy has already given up
    /// on only holds a permit. More than 0, at most `10s`; default `250ms`.
    #[serde(default = "default_unknown_kid_wait", with = "duration")]
    pub unknown_kid_wait: Duration,
    /// Checks that may wait on an unknown-`kid` refresh at once; beyond this
    /// one is answered at once (401 `unknown_kid`), so a flood of random
    /// `kid`s cannot take every `max_concurrent_checks` permit. At least 1
    /// and below `max_concurrent_checks`. Default 1000, or half of
    /// `max_concurrent_checks` if that is less; read it through
    /// [`LimitsConfig::unknown_kid_waiters`].
    #[serde(default)]
    pub max_unknown_kid_waiters: Option<usize>,
}

fn default_max_token_bytes() -> usize {
    DEFAULT_MAX_TOKEN_BYTES
}
fn default_max_headers() -> usize {
    500
}
fn default_max_header_bytes() -> usize {
    96 * 1024
}
fn default_max_concurrent_checks() -> usize {
    10_000
}
fn default_unknown_kid_wait() -> Duration {
    Duration::from_millis(250)
}
/// `limits.max_unknown_kid_waiters` when unset and `max_concurrent_checks` is large.
pub const DEFAULT_MAX_UNKNOWN_KID_WAITERS: usize = 1000;

impl LimitsConfig {
    /// The effective `max_unknown_kid_waiters`. When unset, the default is
    /// capped at half of `max_concurrent_checks` so that a config which only
    /// lowers `max_concurrent_checks` stays valid and still keeps most
    /// permits for Checks whose key is cached (it may be 0: such Checks then
    /// never wait, they only trigger the refresh).
    pub fn unknown_kid_waiters(&self) -> usize {
        self.max_unknown_kid_waiters
            .unwrap_or_else(|| DEFAULT_MAX_UNKNOWN_KID_WAITERS.min(self.max_concurrent_checks / 2))
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_token_bytes: default_max_token_bytes(),
            max_headers: default_max_headers(),
            max_header_bytes: default_max_header_bytes(),
            max_concurrent_checks: default_max_concurrent_checks(),
            unknown_kid_wait: default_unknown_kid_wait(),
            max_unknown_kid_waiters: None,
        }
    }
}

impl ProviderConfig {
    /// The pinned algorithm list, with the documented default applied.
    pub fn effective_algorithms(&self) -> Vec<Algorithm> {
        validate::effective_algorithms(self)
    }
}

#[cfg(test)]
mod tests;
