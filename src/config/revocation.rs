//! `revocation:` — taking tokens back before they expire: the shared log in
//! Redis, a watched file, and the admin listener.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{duration, SecretSource};

/// `revocation:`. At least one of `redis` and `file`.
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RevocationConfig {
    /// The Redis Stream every replica reads and follows.
    pub(crate) redis: Option<RedisConfig>,
    /// A YAML list of revocations, re-read when it changes (same entries as
    /// `POST /v1/revocations` takes).
    pub(crate) file: Option<PathBuf>,
    /// How long an entry lives when neither `expires_at` nor the provider's
    /// `max_lifetime` bounds the tokens it covers. Default `24h`.
    #[serde(with = "duration")]
    #[schemars(with = "crate::config::schema::DurationText")]
    pub(crate) retention: Duration,
    /// The admin listener (revocations and back-channel logout); off unless set.
    pub(crate) admin: Option<AdminConfig>,
}

impl Default for RevocationConfig {
    fn default() -> Self {
        Self { redis: None, file: None, retention: Duration::from_secs(24 * 3600), admin: None }
    }
}

/// `revocation.redis:`
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]` or `rediss://...` (TLS), as a
    /// string or `{ env: NAME }` / `{ file: PATH }` when it holds a password.
    pub(crate) url: ValueOrSecret,
    /// The stream's key. Default `gatehouse:revocations`.
    #[serde(default = "default_stream")]
    pub(crate) stream: String,
    /// How long readiness waits for the first full read of the stream; past
    /// it the replica serves with what it has and `/readyz` says so. Default `30s`.
    #[serde(default = "default_startup_timeout", with = "duration")]
    #[schemars(with = "crate::config::schema::DurationText")]
    pub(crate) startup_timeout: Duration,
    /// Connect and reply timeout of one write (a revocation, a logout token's
    /// `jti`). Default `2s`.
    #[serde(default = "default_timeout", with = "duration")]
    #[schemars(with = "crate::config::schema::DurationText")]
    pub(crate) timeout: Duration,
    /// How often a replica trims entries that expired off the stream. Default `1m`.
    #[serde(default = "default_trim_interval", with = "duration")]
    #[schemars(with = "crate::config::schema::DurationText")]
    pub(crate) trim_interval: Duration,
}

fn default_trim_interval() -> Duration {
    Duration::from_secs(60)
}

fn default_stream() -> String {
    "gatehouse:revocations".to_owned()
}
fn default_startup_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_timeout() -> Duration {
    Duration::from_secs(2)
}

/// A value written in the config, or `{ env: NAME }` / `{ file: PATH }`.
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(untagged)]
pub(crate) enum ValueOrSecret {
    Value(String),
    Secret(SecretSource),
}

/// `revocation.admin:`
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdminConfig {
    /// Address of the admin listener; keep it off the public network.
    pub(crate) addr: SocketAddr,
    /// The bearer token `POST`/`GET /v1/revocations` need: `{ env: NAME }`
    /// or `{ file: PATH }`, never written in the config.
    pub(crate) token: SecretSource,
    /// Largest request body accepted, in bytes. Default 16384.
    #[serde(default = "default_max_body")]
    pub(crate) max_body_bytes: usize,
}

fn default_max_body() -> usize {
    16 * 1024
}

/// The admin listener, as `app` starts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSettings {
    pub addr: SocketAddr,
    pub(crate) token: crate::revocation::SecretValue,
    pub(crate) max_body_bytes: usize,
}
