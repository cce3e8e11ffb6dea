//! The library's surface for gatehouse's own integration tests, test kit,
//! benchmarks, examples and fuzz targets. Not a stable API: it names what
//! those need and nothing else, and changes with them.

pub use crate::alg::{Algorithm, KeyFamily};
pub use crate::app::{grpc_builder, Server};
pub use crate::authz::{
    check_claims, evaluate, parse_token, Allow, Authorizer, CacheOutcome, Claims, Decision, Deny, DenyReason,
    HttpRequest, Origin, Policy, TokenError, UnverifiedToken, Validation, VerifiedToken,
};
pub use crate::clock::unix_now;
pub use crate::config::{from_yaml, load_file, ConfigError, ListenAddr, Problem, ServerConfig, Specs};
pub use crate::dev::{echo_router, jwks_json, CheckRequestBuilder, DevError, SigningKey, DEFAULT_ISSUER};
pub use crate::keys::{
    parse_jwks, JwksError, KeyError, KeyLookup, KeySet, KeySource, LoadedKeys, SkipReason, SkippedKey,
    StaticKeys, VerifyingKey, DEFAULT_MAX_KEYS,
};
pub use crate::path::{normalize as normalize_path, PathError};
pub use crate::server::{
    envoy_allowed_patterns, headers_read, to_check_response, to_http_request, write_answer,
};
pub use crate::telemetry::process::{parse_stat, parse_status, Stat, Status};

/// The generated Envoy ext_authz and gRPC status types.
pub mod wire {
    pub use crate::proto::envoy::config::core::v3::{HeaderMap, HeaderValue, HeaderValueOption};
    pub use crate::proto::envoy::r#type::v3::HttpStatus;
    pub use crate::proto::envoy::service::auth::v3::{
        attribute_context, authorization_client, authorization_server, check_response, AttributeContext,
        CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse,
    };
    pub use crate::proto::google::rpc::Status as RpcStatus;
}

/// Policies built from a config with key sources the caller supplies (a
/// benchmark's static keys, a fuzz target's fixed ones, a test's swappable
/// ones), instead of the ones the config names.
pub fn policy_with_keys(specs: Specs, keys: Vec<std::sync::Arc<dyn KeySource>>) -> Policy {
    Policy::compile(specs.policy, keys.into_iter().map(Into::into).collect(), None)
}

/// [`policy_with_keys`] whose authenticated answers are checked against
/// the revocations the config names: its `revocation.file` is read before
/// this returns, its Redis stream followed from then on (needs a Tokio
/// runtime). Without a `revocation` section, the same as [`policy_with_keys`].
pub fn policy_with_keys_revoking(
    specs: Specs,
    keys: Vec<std::sync::Arc<dyn KeySource>>,
) -> anyhow::Result<Policy> {
    let revocations = match specs.revocation {
        Some(spec) => {
            let metrics = std::sync::Arc::new(crate::revocation::RevocationMetrics::default());
            Some(crate::revocation::RevocationService::start(spec, metrics)?.revocations().clone())
        }
        None => None,
    };
    Ok(Policy::compile(specs.policy, keys.into_iter().map(Into::into).collect(), revocations))
}

/// The key source of provider `index` (config order) of a policy.
pub fn key_source(policy: &Policy, index: usize) -> std::sync::Arc<dyn KeySource> {
    policy.providers()[index].keys.clone()
}

/// Tokens in a policy's verified-token cache now; `None` when it is off.
pub fn cached_tokens(policy: &Policy) -> Option<u64> {
    policy.token_cache.as_ref().map(|cache| cache.len())
}

/// Every identity header a policy's providers may set: an allow sets or
/// removes each of them.
pub fn identity_headers(policy: &Policy) -> &[std::sync::Arc<str>] {
    &policy.identity_headers
}

/// The lower-case hex SHA-256 of an API key: its `api_keys.file` entry.
pub fn api_key_sha256_hex(key: &str) -> String {
    crate::keys::key_sha256_hex(key)
}

/// The short hash that stands in logs for a subject.
pub fn short_hash(value: &str) -> String {
    crate::redact::short_hash(value)
}

/// Starts the key sources the config names (remote ones begin fetching;
/// needs a Tokio runtime) and compiles the policy.
pub fn start_policy(specs: Specs) -> anyhow::Result<Policy> {
    let metrics = std::sync::Arc::new(crate::keys::KeyMetrics::default());
    let sources = crate::keys::start_all(&specs.keys, &metrics)?;
    Ok(Policy::compile(specs.policy, sources, None))
}
