//! `providers[].jwks`: where a provider's keys come from and how the cache
//! behaves when the identity provider rotates keys, fails or hangs.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::duration;

/// Largest JWKS (or discovery document) body accepted by default: 1 MiB.
pub const DEFAULT_MAX_BYTES: usize = 1024 * 1024;

/// Exactly one of `uri`, `discovery`, `file`, `inline`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JwksConfig {
    /// Remote JWKS URL (https; http only to loopback unless `allow_http`).
    #[serde(default)]
    pub uri: Option<String>,
    /// OIDC discovery: the issuer URL whose `/.well-known/openid-configuration`
    /// names the `jwks_uri`. The document's `issuer` must equal the provider's.
    #[serde(default)]
    pub discovery: Option<String>,
    /// Local JWKS file, re-read when it changes.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// The JWKS document itself, as a string.
    #[serde(default)]
    pub inline: Option<String>,
    /// Background refresh period of a remote JWKS (jittered ±10%). Default `5m`.
    #[serde(default = "default_refresh_interval", with = "duration")]
    pub refresh_interval: Duration,
    /// Least time between two fetches caused by unknown `kid`s. Default `30s`,
    /// or `refresh_interval` if that is shorter.
    #[serde(default, with = "duration::option")]
    pub min_refresh_interval: Option<Duration>,
    /// How long the last good key set is served while refreshes fail; after
    /// that its keys are dropped and the provider denies with 503. Default `24h`.
    #[serde(default = "default_max_stale", with = "duration")]
    pub max_stale: Duration,
    /// How long `/readyz` waits for this provider's first key set. Default `30s`.
    #[serde(default = "default_startup_timeout", with = "duration")]
    pub startup_timeout: Duration,
    /// Connect and total timeout of one fetch. Default `5s`.
    #[serde(default = "default_fetch_timeout", with = "duration")]
    pub timeout: Duration,
    /// Largest response accepted, in bytes. Default 1 MiB.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
    /// Allow plain `http` to hosts other than loopback. Default `false`.
    #[serde(default)]
    pub allow_http: bool,
}

fn default_refresh_interval() -> Duration {
    Duration::from_secs(300)
}
const DEFAULT_MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
fn default_max_stale() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_startup_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_fetch_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_max_bytes() -> usize {
    DEFAULT_MAX_BYTES
}

impl JwksConfig {
    /// `min_refresh_interval` with its default applied.
    pub fn effective_min_refresh_interval(&self) -> Duration {
        self.min_refresh_interval.unwrap_or(DEFAULT_MIN_REFRESH_INTERVAL.min(self.refresh_interval))
    }

    /// True for `uri` and `discovery` sources.
    pub fn is_remote(&self) -> bool {
        self.uri.is_some() || self.discovery.is_some()
    }
}
