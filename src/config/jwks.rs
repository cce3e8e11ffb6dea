//! `providers[].jwks`: where a provider's keys come from and how the cache
//! behaves when the identity provider rotates keys, fails or hangs.

use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use super::duration;

/// Exactly one of `uri`, `discovery`, `file`, `inline`.
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct JwksConfig {
    /// Remote JWKS URL (https; http only to loopback unless `allow_http`).
    pub(crate) uri: Option<String>,
    /// OIDC discovery: the issuer URL whose `/.well-known/openid-configuration`
    /// names the `jwks_uri`. The document's `issuer` must equal the provider's.
    pub(crate) discovery: Option<String>,
    /// Local JWKS file, re-read when it changes.
    pub(crate) file: Option<PathBuf>,
    /// The JWKS document itself, as a string.
    pub(crate) inline: Option<String>,
    /// Background refresh period of a remote JWKS (jittered ±10%). Default `5m`.
    #[serde(with = "duration")]
    #[schemars(with = "crate::config::schema::DurationText")]
    pub(crate) refresh_interval: Duration,
    /// Least time between two fetches caused by unknown `kid`s. Default `30s`,
    /// or `refresh_interval` if that is shorter.
    #[serde(with = "duration::option")]
    #[schemars(with = "Option<crate::config::schema::DurationText>")]
    pub(crate) min_refresh_interval: Option<Duration>,
    /// How long the last good key set is served while refreshes fail; after
    /// that its keys are dropped and the provider denies with 503. Default `24h`.
    #[serde(with = "duration")]
    #[schemars(with = "crate::config::schema::DurationText")]
    pub(crate) max_stale: Duration,
    /// How long `/readyz` waits for this provider's first key set. Default `30s`.
    #[serde(with = "duration")]
    #[schemars(with = "crate::config::schema::DurationText")]
    pub(crate) startup_timeout: Duration,
    /// Connect and total timeout of one fetch. Default `5s`.
    #[serde(with = "duration")]
    #[schemars(with = "crate::config::schema::DurationText")]
    pub(crate) timeout: Duration,
    /// Largest response accepted, in bytes. Default 1048576 (1 MiB).
    pub(crate) max_bytes: usize,
    /// Allow plain `http` to hosts other than loopback. Default `false`.
    pub(crate) allow_http: bool,
}

/// `min_refresh_interval` when unset (and `refresh_interval` is longer).
const DEFAULT_MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

impl Default for JwksConfig {
    fn default() -> Self {
        Self {
            uri: None,
            discovery: None,
            file: None,
            inline: None,
            refresh_interval: Duration::from_secs(300),
            min_refresh_interval: None,
            max_stale: Duration::from_secs(24 * 3600),
            startup_timeout: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            max_bytes: 1024 * 1024,
            allow_http: false,
        }
    }
}

impl JwksConfig {
    /// `min_refresh_interval` with its default applied.
    pub(crate) fn effective_min_refresh_interval(&self) -> Duration {
        self.min_refresh_interval.unwrap_or(DEFAULT_MIN_REFRESH_INTERVAL.min(self.refresh_interval))
    }

    /// True for `uri` and `discovery` sources.
    pub(crate) fn is_remote(&self) -> bool {
        self.uri.is_some() || self.discovery.is_some()
    }
}
