//! The configuration file: serde types with their documented defaults
//! ([`Config`]), and the one step that turns a file into what the layers
//! below run on ([`build`]): it checks everything, reporting every problem at
//! once with its key path, and builds the `keys` and `authz` specs. What it
//! accepts, [`crate::authz::Policy::compile`] and the key sources take
//! without a second check.

mod build;
mod build_credentials;
mod build_keys;
mod build_revocation;
mod build_rules;
mod credentials;
mod duration;
mod jwks;
mod listen;
mod load;
mod revocation;
mod rules;
mod schema;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::alg::Algorithm;

pub(crate) use build::build;
pub use build::Specs;
#[cfg(test)]
pub(crate) use build_rules::testing;
pub(crate) use jwks::JwksConfig;
pub use listen::ListenAddr;
#[cfg(test)]
pub(crate) use load::parse;
pub use load::{from_yaml, load_file};
pub(crate) use revocation::{AdminSettings, RevocationConfig};
pub(crate) use rules::{
    AllowMode, ClaimRequirementConfig, HeaderMatchConfig, MatchConfig, RequireConfig, RuleConfig,
};
pub(crate) use schema::config_schema;

/// Default for `providers[].token_sources`: the `Authorization: Bearer` header.
pub(crate) const DEFAULT_AUTH_HEADER: &str = "authorization";

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
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }

    fn list(problems: &[Problem]) -> String {
        let lines: Vec<String> = problems.iter().map(|p| format!("{}: {}", p.path, p.message)).collect();
        lines.join("\n")
    }
}

/// The whole file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// Listen addresses and shutdown behaviour.
    #[serde(default)]
    pub(crate) server: ServerConfig,
    /// Token issuers gatehouse trusts. At least one.
    pub(crate) providers: Vec<ProviderConfig>,
    /// Route rules, evaluated in order; the first match decides.
    #[serde(default)]
    pub(crate) rules: Vec<RuleConfig>,
    /// What happens when no rule matches. Default `deny` (403 `no_matching_rule`).
    #[serde(default)]
    pub(crate) default: DefaultAction,
    /// Let CORS preflights (OPTIONS with `Origin` and
    /// `Access-Control-Request-Method`) through without a token. Default `false`.
    #[serde(default)]
    pub(crate) bypass_cors_preflight: bool,
    /// Accept paths with `%2F`/`%5C` (kept encoded, not separators) instead
    /// of denying them with 400. Default `false`.
    #[serde(default)]
    pub(crate) allow_encoded_slashes: bool,
    /// Input size bounds.
    #[serde(default)]
    pub(crate) limits: LimitsConfig,
    /// Log one line per decision at `info` (otherwise at `debug`). Default `false`.
    #[serde(default)]
    pub(crate) decision_log: bool,
    /// Tracing export.
    #[serde(default)]
    pub(crate) telemetry: TelemetryConfig,
    /// The verified-token cache.
    #[serde(default)]
    pub(crate) cache: CacheConfig,
    /// What an allow tells Envoy in dynamic metadata.
    #[serde(default)]
    pub(crate) dynamic_metadata: DynamicMetadataConfig,
    /// Revoked tokens, sessions, users and issuers (off unless set).
    #[serde(default)]
    pub(crate) revocation: Option<RevocationConfig>,
}

/// `dynamic_metadata:` — what an allow puts in Envoy's dynamic metadata
/// (namespace `envoy.filters.http.ext_authz`), for access logs, RBAC and
/// later filters. `decision`, `rule` and `provider` are always there.
///
/// Envoy parses and stores the whole Struct on every request, so the default
/// carries a handful of claims, not the payload.
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct DynamicMetadataConfig {
    /// Claims copied to the top level, by dotted path (`org.id` becomes the key
    /// `org.id`); absent claims are left out. Default `[sub, iss, scope, scp]`.
    pub(crate) claims: Vec<String>,
    /// Also put every verified claim under the key `claims`. Default `false`.
    pub(crate) all_claims: bool,
}

impl Default for DynamicMetadataConfig {
    fn default() -> Self {
        Self { claims: ["sub", "iss", "scope", "scp"].map(str::to_owned).to_vec(), all_claims: false }
    }
}

/// `cache:` — verified tokens, so a token's signature and claims are checked
/// once, not on every request. Rules still run per request.
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct CacheConfig {
    /// Default `true`.
    pub(crate) enabled: bool,
    /// Most tokens held. Default 100000.
    pub(crate) max_entries: u64,
    /// Most memory the entries may take, in bytes, by an estimate of each
    /// entry's size (its claims dominate). Whichever of `max_entries` and
    /// `max_bytes` is reached first bounds the cache. Default 268435456 (256 MiB).
    pub(crate) max_bytes: u64,
    /// Longest an entry lives; never past the token's `exp` minus `clock_skew`. Default `5m`.
    #[serde(with = "duration")]
    #[schemars(with = "crate::config::schema::DurationText")]
    pub(crate) max_ttl: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_entries: 100_000,
            max_bytes: 256 * 1024 * 1024,
            max_ttl: Duration::from_secs(300),
        }
    }
}

/// `telemetry:`
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct TelemetryConfig {
    /// OTLP/gRPC collector endpoint (e.g. `http://otel-collector:4317`). Unset: the
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` environment variable, and if that is unset too,
    /// no spans are exported (a W3C `traceparent` is still honoured in logs).
    /// `OTEL_RESOURCE_ATTRIBUTES` adds resource attributes.
    pub(crate) otlp_endpoint: Option<String>,
    /// `service.name` of exported spans. Default `gatehouse` (or `OTEL_SERVICE_NAME`).
    pub(crate) service_name: Option<String>,
}

/// `server:`
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address of the ext_authz gRPC service: `host:port`, or a Unix domain
    /// socket `unix:/path` (mode 0660: Envoy needs the same user or group).
    /// Default `0.0.0.0:9001`.
    pub grpc_addr: ListenAddr,
    /// Address of `/healthz`, `/readyz` and `/metrics`. Default `0.0.0.0:9090`.
    pub http_addr: SocketAddr,
    /// Address of the HTTP check listener (Envoy `http_service`, nginx
    /// `auth_request`, Traefik `forwardAuth`): `host:port` or `unix:/path`.
    /// Default: off.
    pub http_check_addr: Option<ListenAddr>,
    /// How long in-flight Checks may take to finish after SIGTERM. Default `10s`.
    #[serde(with = "duration")]
    #[schemars(with = "crate::config::schema::DurationText")]
    pub drain_timeout: Duration,
    /// After SIGTERM, how long to keep serving while reporting not ready, so
    /// load balancers (Kubernetes endpoints) stop sending first. Default `0s`.
    #[serde(with = "duration")]
    #[schemars(with = "crate::config::schema::DurationText")]
    pub shutdown_delay: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            grpc_addr: ListenAddr::Tcp(SocketAddr::from(([0, 0, 0, 0], 9001))),
            http_addr: SocketAddr::from(([0, 0, 0, 0], 9090)),
            http_check_addr: None,
            drain_timeout: Duration::from_secs(10),
            shutdown_delay: Duration::ZERO,
        }
    }
}

/// `providers[]`: one token issuer.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProviderConfig {
    /// Name used by rules, metrics and logs: `[a-z0-9_-]`, unique.
    pub(crate) name: String,
    /// Exact value the token's `iss` must have.
    pub(crate) issuer: String,
    /// If non-empty, the token's `aud` must contain one of these.
    #[serde(default)]
    pub(crate) audiences: Vec<String>,
    /// Pinned algorithms. Default: every asymmetric algorithm for a JWKS
    /// provider, `[HS256]` for an `hmac_secret` provider.
    #[serde(default)]
    pub(crate) algorithms: Option<Vec<Algorithm>>,
    /// Where the verification keys come from.
    #[serde(default)]
    pub(crate) jwks: Option<JwksConfig>,
    /// A shared secret for HS256/384/512 instead of a JWKS.
    #[serde(default)]
    pub(crate) hmac_secret: Option<SecretSource>,
    /// Opaque access tokens checked with the authorization server (RFC 7662);
    /// with `jwks` or `hmac_secret` too, only tokens that are not JWS are.
    #[serde(default)]
    pub(crate) introspection: Option<credentials::IntrospectionConfig>,
    /// Static API keys instead of tokens (no `jwks`, `hmac_secret` or
    /// `introspection` with it).
    #[serde(default)]
    pub(crate) api_keys: Option<credentials::ApiKeysConfig>,
    /// Accepted JWS header `typ` values (RFC 9068 §4), compared
    /// case-insensitively with or without `application/`, e.g. `[at+jwt]`.
    /// Default: any. Set it when the issuer marks its access tokens, so that
    /// an ID token whose `aud` is this API can never pass as an access token.
    #[serde(default)]
    pub(crate) token_types: Vec<String>,
    /// Where to find the token, tried in order. Default: `Authorization:
    /// Bearer`; for an `api_keys` provider, `api_keys.header` and
    /// `Authorization: ApiKey` (and no other).
    #[serde(default)]
    pub(crate) token_sources: Option<Vec<TokenSourceConfig>>,
    /// Leeway for `exp`, `nbf` and `iat`. Default `60s`.
    #[serde(default = "default_clock_skew", with = "duration")]
    #[schemars(with = "crate::config::schema::DurationText")]
    pub(crate) clock_skew: Duration,
    /// Optional upper bound on `exp - iat`.
    #[serde(default, with = "duration::option")]
    #[schemars(with = "Option<crate::config::schema::DurationText>")]
    pub(crate) max_lifetime: Option<Duration>,
    /// Refuse tokens without `exp`. Default `true`.
    #[serde(default = "default_true")]
    pub(crate) require_expiration: bool,
    /// Verified claims copied into upstream request headers.
    #[serde(default)]
    pub(crate) claims_to_headers: Vec<ClaimHeaderConfig>,
    /// Optional header carrying the base64url verified payload upstream.
    #[serde(default)]
    pub(crate) payload_header: Option<String>,
    /// Keep the token's header on the upstream request. Default `false`: the
    /// upstream sees identity headers, not the credential.
    #[serde(default)]
    pub(crate) forward_token: bool,
    /// Accept OpenID Connect back-channel logout tokens of this provider on
    /// the admin listener (`POST /v1/backchannel-logout`). Default `false`.
    #[serde(default)]
    pub(crate) backchannel_logout: bool,
}

fn header_source(header: &str, prefix: &str) -> TokenSourceConfig {
    TokenSourceConfig {
        header: Some(header.to_owned()),
        prefix: Some(prefix.to_owned()),
        cookie: None,
        query: None,
    }
}
fn default_clock_skew() -> Duration {
    Duration::from_secs(60)
}
fn default_true() -> bool {
    true
}

/// A secret read from an environment variable or a file: exactly one of them.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct SecretSource {
    /// An environment variable holding the secret.
    pub(crate) env: Option<String>,
    /// A file holding the secret (trailing newlines are not part of it).
    pub(crate) file: Option<PathBuf>,
}

/// `token_sources[]`: exactly one of `header`, `cookie`, `query`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct TokenSourceConfig {
    /// Request header name (case-insensitive).
    pub(crate) header: Option<String>,
    /// Scheme prefix before the token, e.g. `"Bearer "` (matched
    /// case-insensitively, as HTTP auth schemes are). Only with `header`.
    pub(crate) prefix: Option<String>,
    /// Cookie name.
    pub(crate) cookie: Option<String>,
    /// Query-string parameter name.
    pub(crate) query: Option<String>,
}

/// `claims_to_headers[]`.
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClaimHeaderConfig {
    /// Claim name; dots walk into nested objects (`org.id`).
    pub(crate) claim: String,
    /// Upstream request header to set.
    pub(crate) header: String,
}

/// `default:`
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DefaultAction {
    /// 403 with `error: "no_matching_rule"`.
    #[default]
    Deny,
    /// Treat as an anonymous rule.
    AllowAnonymous,
}

/// `limits:`
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct LimitsConfig {
    /// Tokens longer than this are refused before any parsing. Default 8192.
    pub(crate) max_token_bytes: usize,
    /// Requests with more header entries than this are refused (400) before
    /// any header is read. Default 500 (Envoy itself defaults to 100).
    pub(crate) max_headers: usize,
    /// Requests whose header names and values add up to more than this are
    /// refused (400). Default 96 KiB (Envoy's default limit is 60 KiB).
    pub(crate) max_header_bytes: usize,
    /// Checks decided at once; beyond this a Check is denied at once with 503
    /// (never allowed, never queued without bound). Default 10000.
    pub(crate) max_concurrent_checks: usize,
    /// Longest a Check whose token names an unknown `kid` waits for the
    /// shared JWKS refresh that may load it (the fetch itself runs on). Keep
    /// it below Envoy's ext_authz timeout: a wait Envoy has already given up
    /// on only holds a permit. More than 0, at most `10s`; default `250ms`.
    #[serde(with = "duration")]
    #[schemars(with = "crate::config::schema::DurationText")]
    pub(crate) unknown_kid_wait: Duration,
    /// Checks that may wait on an unknown-`kid` refresh at once; beyond this
    /// one is answered at once (401 `unknown_kid`), so a flood of random
    /// `kid`s cannot take every `max_concurrent_checks` permit. At least 1
    /// and below `max_concurrent_checks`. Default 1000, or half of
    /// `max_concurrent_checks` if that is less. The same bound, counted
    /// apart, applies to Checks waiting on a token introspection call.
    pub(crate) max_unknown_kid_waiters: Option<usize>,
}

/// `limits.max_unknown_kid_waiters` when unset and `max_concurrent_checks` is large.
const DEFAULT_MAX_UNKNOWN_KID_WAITERS: usize = 1000;

impl LimitsConfig {
    /// The effective `max_unknown_kid_waiters`. When unset, the default is
    /// capped at half of `max_concurrent_checks` so that a config which only
    /// lowers `max_concurrent_checks` stays valid and still keeps most
    /// permits for Checks whose key is cached (it may be 0: such Checks then
    /// never wait, they only trigger the refresh).
    pub(crate) fn unknown_kid_waiters(&self) -> usize {
        self.max_unknown_kid_waiters
            .unwrap_or_else(|| DEFAULT_MAX_UNKNOWN_KID_WAITERS.min(self.max_concurrent_checks / 2))
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_token_bytes: 8 * 1024,
            max_headers: 500,
            max_header_bytes: 96 * 1024,
            max_concurrent_checks: 10_000,
            unknown_kid_wait: Duration::from_millis(250),
            max_unknown_kid_waiters: None,
        }
    }
}

impl ProviderConfig {
    /// `token_sources` with the documented defaults applied.
    pub(crate) fn effective_token_sources(&self) -> Vec<TokenSourceConfig> {
        match (&self.token_sources, &self.api_keys) {
            (Some(sources), _) => sources.clone(),
            (None, Some(api_keys)) => {
                let mut header = header_source(&api_keys.header, "");
                header.prefix = None;
                vec![header, header_source(DEFAULT_AUTH_HEADER, credentials::API_KEY_SCHEME)]
            }
            (None, None) => vec![header_source(DEFAULT_AUTH_HEADER, "Bearer ")],
        }
    }

    /// True when the provider verifies JWS tokens (it has keys).
    pub(crate) fn has_keys(&self) -> bool {
        self.jwks.is_some() || self.hmac_secret.is_some()
    }

    /// The pinned algorithm list, with the documented default applied: every
    /// asymmetric algorithm for a JWKS provider, HS256 for an `hmac_secret` one.
    pub(crate) fn effective_algorithms(&self) -> Vec<Algorithm> {
        match (&self.algorithms, &self.hmac_secret) {
            (Some(algs), _) => algs.clone(),
            (None, Some(_)) => vec![Algorithm::HS256],
            (None, None) if self.jwks.is_some() => {
                Algorithm::ALL.into_iter().filter(|a| !a.is_symmetric()).collect()
            }
            (None, None) => Vec::new(),
        }
    }
}

/// A policy from a config document, with the given key sources in place of
/// the ones it names: how unit tests of the layers below build policies.
#[cfg(test)]
pub(crate) fn test_policy(
    yaml: &str,
    keys: Vec<std::sync::Arc<dyn crate::keys::KeySource>>,
) -> crate::authz::Policy {
    test_policy_revoking(yaml, keys, None)
}

/// [`test_policy`], checking every authenticated answer against `revocations`.
#[cfg(test)]
pub(crate) fn test_policy_revoking(
    yaml: &str,
    keys: Vec<std::sync::Arc<dyn crate::keys::KeySource>>,
    revocations: Option<std::sync::Arc<crate::revocation::Revocations>>,
) -> crate::authz::Policy {
    let specs = from_yaml(yaml).unwrap_or_else(|e| panic!("test config does not load:\n{e}\n---\n{yaml}"));
    assert_eq!(specs.keys.len(), keys.len(), "one key source per provider");
    crate::authz::Policy::compile(specs.policy, keys.into_iter().map(Into::into).collect(), revocations)
}

#[cfg(test)]
mod tests;
