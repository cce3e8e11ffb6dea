//! `providers[].introspection` and `providers[].api_keys`: opaque credentials.

use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{duration, SecretSource};

/// `introspection:` — opaque access tokens checked with the authorization
/// server (RFC 7662). Exactly one of `endpoint` and `discovery: true`.
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct IntrospectionConfig {
    /// The introspection endpoint (https; http only to loopback unless `allow_http`).
    #[serde(default)]
    pub(crate) endpoint: Option<String>,
    /// Find the endpoint in the issuer's metadata: `introspection_endpoint`
    /// of `{issuer}/.well-known/openid-configuration`, else of RFC 8414's
    /// `{issuer}/.well-known/oauth-authorization-server`. Default `false`.
    #[serde(default)]
    pub(crate) discovery: bool,
    /// The client gatehouse authenticates as.
    pub(crate) client_id: String,
    /// Its secret: `{ env: NAME }` or `{ file: PATH }`.
    pub(crate) client_secret: SecretSource,
    /// How the client authenticates. Default `client_secret_basic`.
    #[serde(default)]
    pub(crate) auth_method: ClientAuthMethod,
    /// Longest an active answer is reused; never past the token's `exp`. Default `60s`.
    #[serde(default = "default_cache_ttl", with = "duration")]
    #[schemars(with = "crate::config::schema::DurationText")]
    pub(crate) cache_ttl: Duration,
    /// How long an inactive answer is reused. Default `5s`.
    #[serde(default = "default_negative_ttl", with = "duration")]
    #[schemars(with = "crate::config::schema::DurationText")]
    pub(crate) negative_ttl: Duration,
    /// Connect and total timeout of one call. Default `2s`.
    #[serde(default = "default_timeout", with = "duration")]
    #[schemars(with = "crate::config::schema::DurationText")]
    pub(crate) timeout: Duration,
    /// Longest a Check waits for the call its new token started (the call
    /// runs on, for the next Check); past it the Check is denied with 503.
    /// Keep it below the proxy's timeout for the authorizer. At most
    /// `timeout`. Default `300ms`.
    #[serde(default = "default_wait", with = "duration")]
    #[schemars(with = "crate::config::schema::DurationText")]
    pub(crate) wait: Duration,
    /// Calls in flight at once; a new token beyond them is denied with 503
    /// (a flood of random tokens cannot pile up calls). Default 64.
    #[serde(default = "default_max_in_flight")]
    pub(crate) max_in_flight: usize,
    /// Answers kept at most. Default 100000.
    #[serde(default = "default_max_entries")]
    pub(crate) max_entries: u64,
    /// Largest response accepted, in bytes. Default 65536.
    #[serde(default = "default_max_bytes")]
    pub(crate) max_bytes: usize,
    /// Allow plain `http` to hosts other than loopback. Default `false`.
    #[serde(default)]
    pub(crate) allow_http: bool,
}

/// `auth_method:` (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ClientAuthMethod {
    /// HTTP Basic authentication.
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

fn default_cache_ttl() -> Duration {
    Duration::from_secs(60)
}
fn default_negative_ttl() -> Duration {
    Duration::from_secs(5)
}
fn default_timeout() -> Duration {
    Duration::from_secs(2)
}
fn default_wait() -> Duration {
    Duration::from_millis(300)
}
fn default_max_in_flight() -> usize {
    64
}
fn default_max_entries() -> u64 {
    100_000
}
fn default_max_bytes() -> usize {
    64 * 1024
}

/// `api_keys:` — static keys for machine clients.
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApiKeysConfig {
    /// A YAML list of `{ key_sha256: <hex>, claims: {..} }`, re-read when it
    /// changes (`gatehouse dev api-key` prints a new key and its entry).
    pub(crate) file: PathBuf,
    /// The header carrying the key. Default `x-api-key`. `Authorization:
    /// ApiKey <key>` is accepted too.
    #[serde(default = "default_api_key_header")]
    pub(crate) header: String,
}

/// Default for `api_keys.header`.
pub(crate) const DEFAULT_API_KEY_HEADER: &str = "x-api-key";
/// The `Authorization` scheme an API key may also come in.
pub(crate) const API_KEY_SCHEME: &str = "ApiKey";

fn default_api_key_header() -> String {
    DEFAULT_API_KEY_HEADER.to_owned()
}
