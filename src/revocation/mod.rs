//! Revocations: tokens, sessions, users and whole issuers taken back before
//! their tokens expire, shared by every replica.
//!
//! The Check path asks the [`RevocationSet`] in force, one atomic load and a
//! few hash lookups, never I/O. Entries arrive from the Redis stream every
//! replica follows ([`redis_log`]), from a watched file ([`file`]), and
//! through [`Revocations::record`] (the admin API and back-channel logout),
//! which appends to the stream and applies locally only once Redis holds the
//! entry. Every entry carries its own expiry: after it no token it covers can
//! still be accepted, so it is dropped, and trimmed off the stream.

mod entry;
mod file;
mod metrics;
mod redis_log;
mod set;
mod store;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use entry::{cutoff_now, Origin, Revocation, RevocationRequest, Selector};
pub(crate) use metrics::RevocationMetrics;
pub(crate) use redis_log::{LogError, RedisSpec};
pub(crate) use set::TokenIds;
pub(crate) use store::{EntryKey, Revocations};

use redis_log::RedisLog;

/// A value given in the config, or read at start from an environment
/// variable or a file (credentials: a Redis URL, the admin token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SecretValue {
    Inline(String),
    Env(String),
    File(PathBuf),
}

impl SecretValue {
    /// The value; a file's trailing newlines are not part of it.
    pub(crate) fn read(&self) -> Result<String, StartError> {
        match self {
            SecretValue::Inline(value) => Ok(value.clone()),
            SecretValue::Env(name) => {
                std::env::var(name).map_err(|source| StartError::Env { name: name.clone(), source })
            }
            SecretValue::File(path) => std::fs::read_to_string(path)
                .map(|text| text.trim_end_matches(['\n', '\r']).to_owned())
                .map_err(|source| StartError::Io { path: path.clone(), source }),
        }
    }
}

/// What an issuer's revocations expire by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IssuerLifetime {
    pub(crate) issuer: String,
    pub(crate) provider: String,
    /// The provider's `max_lifetime` plus its clock skew: no token of it is
    /// accepted longer than this after its `iat`.
    pub(crate) max_token_age: Option<Duration>,
}

/// The revocation settings (`revocation`), built by `config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RevocationSpec {
    pub(crate) redis: Option<RedisSpec>,
    pub(crate) file: Option<PathBuf>,
    /// How long an entry lives when nothing bounds the tokens it covers.
    pub(crate) retention: Duration,
    pub(crate) issuers: Vec<IssuerLifetime>,
}

/// Why revocations could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    #[error("environment variable `{name}` is not usable: {source}")]
    Env { name: String, source: std::env::VarError },
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("revocation.redis.url: {0}")]
    Redis(#[from] LogError),
    #[error("revocation.file {path}: {message}")]
    File { path: PathBuf, message: String },
}

/// Why a revocation was not recorded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RecordError {
    /// Redis did not take it: nothing was applied anywhere.
    #[error("the revocation could not be stored: {0}")]
    Unavailable(#[from] LogError),
    /// There is no shared, durable log to store it in.
    #[error("no revocation.redis is configured")]
    NoLog,
}

/// Revocations of a running gatehouse: the store and, with Redis, the log.
pub(crate) struct RevocationService {
    revocations: Arc<Revocations>,
    log: Option<Arc<RedisLog>>,
    spec: RevocationSpec,
    started: tokio::time::Instant,
}

impl RevocationService {
    /// Reads the file, opens the log and starts following it (needs a Tokio runtime).
    pub(crate) fn start(spec: RevocationSpec, metrics: Arc<RevocationMetrics>) -> Result<Self, StartError> {
        let revocations = Arc::new(Revocations::new(metrics, spec.redis.is_none()));
        if let Some(path) = &spec.file {
            file::start(path.clone(), revocations.clone(), spec.clone())?;
        }
        let log = match &spec.redis {
            Some(redis) => {
                let log = Arc::new(RedisLog::open(&redis.url.read()?, redis)?);
                tokio::spawn(redis_log::follow(log.clone(), revocations.clone()));
                Some(log)
            }
            None => None,
        };
        tokio::spawn(purge_expired(Arc::downgrade(&revocations)));
        Ok(Self { revocations, log, spec, started: tokio::time::Instant::now() })
    }

    pub(crate) fn revocations(&self) -> &Arc<Revocations> {
        &self.revocations
    }

    /// True while the first read of the stream runs and `startup_timeout`
    /// has not passed: readiness waits for it.
    pub(crate) fn starting(&self) -> bool {
        let window = self.spec.redis.as_ref().map_or(Duration::ZERO, |r| r.startup_timeout);
        !self.revocations.is_synced() && self.started.elapsed() < window
    }

    /// When an entry for `issuer` covering tokens issued before
    /// `issued_before` (now, for one token or session) stops mattering.
    pub(crate) fn expiry(&self, issuer: &str, issued_before: u64) -> u64 {
        default_expiry(&self.spec, issuer, issued_before)
    }

    /// Stores `entry` in the shared log and, once Redis holds it, applies it
    /// here. Without Redis nothing is stored (an entry only this replica
    /// knew would be lost at its next restart).
    pub(crate) async fn record(&self, entry: Revocation) -> Result<(EntryKey, Revocation), RecordError> {
        let log = self.log.as_ref().ok_or(RecordError::NoLog)?;
        let key = log.append(&entry).await?;
        self.revocations.apply([(key, entry.clone())]);
        tracing::info!(
            issuer = %entry.issuer,
            kind = entry.selector.kind(),
            subject_hash = entry.selector.value().map(crate::redact::short_hash),
            by = entry.by.as_str(),
            id = %key,
            "revocation accepted"
        );
        Ok((key, entry))
    }

    /// Whether `key` (a logout token's issuer and `jti`) is new for `ttl`,
    /// across every replica.
    pub(crate) async fn first_use(&self, key: &str, ttl: Duration) -> Result<bool, RecordError> {
        let log = self.log.as_ref().ok_or(RecordError::NoLog)?;
        Ok(log.claim_once(key, ttl).await?)
    }
}

/// When no token an entry covers can still be accepted: `issued_before`
/// plus the provider's longest token age, else `retention` from now.
fn default_expiry(spec: &RevocationSpec, issuer: &str, issued_before: u64) -> u64 {
    let age = spec.issuers.iter().find(|i| i.issuer == issuer).and_then(|i| i.max_token_age);
    match age {
        Some(age) => issued_before.saturating_add(age.as_secs()),
        None => crate::clock::unix_now().saturating_add(spec.retention.as_secs()),
    }
}

impl RevocationService {
    /// Undoes [`Self::first_use`] (best effort) when what it guarded failed.
    pub(crate) async fn forget_use(&self, key: &str) {
        if let Some(log) = &self.log {
            if let Err(error) = log.unclaim(key).await {
                tracing::warn!(%error, "could not release a logout token's jti after a failed logout");
            }
        }
    }
}

/// Republishes the set now and then so expired entries leave it (and the
/// gauges) even when nothing new arrives.
async fn purge_expired(revocations: std::sync::Weak<Revocations>) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Some(revocations) = revocations.upgrade() else { return };
        revocations.purge_expired();
    }
}
