//! Keys: what a provider checks credentials against. JWKS documents parsed
//! into ready-to-use verification keys behind the [`KeySource`] seam (where
//! fetching, file watching and caching happen); for opaque credentials, the
//! provider's token introspection client with its answer cache
//! ([`Introspector`]) and its API-key file ([`ApiKeys`]). The only part of
//! gatehouse that does network or file I/O for credential material.
//!
//! `config` builds a [`KeysSpec`] per provider; [`start`] turns it into
//! running [`ProviderKeys`]. Nothing here knows the configuration file.

mod api_keys;
mod fetch;
mod file;
mod introspect;
mod jwk;
mod key;
mod metrics;
mod remote;
mod source;

use std::path::PathBuf;
use std::sync::Arc;

use crate::alg::Algorithm;

pub(crate) use api_keys::{key_sha256_hex, ApiKeys, ApiKeysError};
pub(crate) use fetch::{check_url, ClientAuth, FetchSettings};
pub(crate) use introspect::{Answer, Endpoint, IntrospectionSpec, Introspector};
pub use jwk::{parse_jwks, JwksError, LoadedKeys, SkipReason, SkippedKey, DEFAULT_MAX_KEYS};
pub use key::{KeyError, KeyLookup, KeySet, VerifyingKey};
pub(crate) use metrics::KeyMetrics;
pub(crate) use remote::{Location, RemoteSpec};
#[cfg(test)]
pub(crate) use source::BoxFuture;
pub use source::{KeySource, StaticKeys};

/// One provider's keys: which algorithms they may serve and where they come
/// from. Built by `config` from a validated provider; two equal specs can
/// share one running source (a reload keeps it, caches and all).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KeysSpec {
    /// The provider's name, for logs and metrics.
    pub(crate) provider: String,
    /// The provider's pinned algorithms; a key never serves another.
    pub(crate) allowed: Vec<Algorithm>,
    pub(crate) location: KeyLocation,
    /// Opaque tokens are introspected (RFC 7662).
    pub(crate) introspection: Option<IntrospectionSpec>,
    /// API keys from this watched file.
    pub(crate) api_keys: Option<PathBuf>,
}

/// A provider's running credential sources.
#[derive(Clone)]
pub(crate) struct ProviderKeys {
    /// Its JWS keys (an empty set for a provider without any).
    pub(crate) jws: Arc<dyn KeySource>,
    pub(crate) introspection: Option<Arc<Introspector>>,
    pub(crate) api_keys: Option<Arc<ApiKeys>>,
}

impl From<Arc<dyn KeySource>> for ProviderKeys {
    /// JWS keys only.
    fn from(jws: Arc<dyn KeySource>) -> Self {
        Self { jws, introspection: None, api_keys: None }
    }
}

/// Where a provider's keys are.
#[derive(Debug, Clone)]
pub(crate) enum KeyLocation {
    /// No JWS keys: the provider takes opaque tokens or API keys only.
    None,
    /// A JWKS written into the config, parsed when the config was built.
    Inline { document: String, keys: Arc<KeySet> },
    /// A JWKS file, read at start and re-read when it changes.
    File(PathBuf),
    /// A shared secret for HS256/384/512, read at start.
    HmacSecret(Secret),
    /// A JWKS fetched over HTTP(S), directly or through OIDC discovery.
    Remote(RemoteSpec),
}

impl PartialEq for KeyLocation {
    /// Inline key sets compare by their document: the same text, the same keys.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Inline { document: a, .. }, Self::Inline { document: b, .. }) => a == b,
            (Self::File(a), Self::File(b)) => a == b,
            (Self::HmacSecret(a), Self::HmacSecret(b)) => a == b,
            (Self::Remote(a), Self::Remote(b)) => a == b,
            (Self::None, Self::None) => true,
            _ => false,
        }
    }
}

/// Where a secret is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Secret {
    /// An environment variable.
    Env(String),
    /// A file; trailing newlines are not part of the secret.
    File(PathBuf),
}

/// Why a provider's key source could not start: the I/O at start-up
/// (everything a config can get wrong was refused when it was built).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SourceError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("environment variable `{name}` is not usable: {source}")]
    Env { name: String, source: std::env::VarError },
    #[error("{path}: {source}")]
    Jwks { path: PathBuf, source: JwksError },
    #[error("the HMAC secret: {0}")]
    Key(#[from] KeyError),
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("the introspection client secret is not UTF-8")]
    SecretNotUtf8,
    #[error("API keys: {0}")]
    ApiKeys(#[from] ApiKeysError),
}

/// A provider whose key source could not start.
#[derive(Debug, thiserror::Error)]
#[error("provider `{provider}`: keys: {source}")]
pub(crate) struct StartError {
    provider: String,
    source: SourceError,
}

/// Starts every provider's key source, in order; remote ones begin fetching
/// at once, all in parallel.
pub(crate) fn start_all(
    specs: &[KeysSpec],
    metrics: &Arc<KeyMetrics>,
) -> Result<Vec<ProviderKeys>, StartError> {
    specs
        .iter()
        .map(|spec| {
            start(spec, metrics).map_err(|source| StartError { provider: spec.provider.clone(), source })
        })
        .collect()
}

/// Starts the credential sources `spec` describes. Remote and file sources
/// start their background tasks (this needs a Tokio runtime).
pub(crate) fn start(spec: &KeysSpec, metrics: &Arc<KeyMetrics>) -> Result<ProviderKeys, SourceError> {
    let introspection = match &spec.introspection {
        Some(introspection) => {
            let secret = introspect::read_client_secret(&introspection.client_secret)?;
            Some(Arc::new(Introspector::new(&spec.provider, introspection.clone(), secret, metrics.clone())?))
        }
        None => None,
    };
    let api_keys = match &spec.api_keys {
        Some(path) => Some(ApiKeys::start(&spec.provider, path.clone(), metrics.clone())?),
        None => None,
    };
    Ok(ProviderKeys { jws: start_jws(spec, metrics)?, introspection, api_keys })
}

/// Starts the JWS key source `spec` describes.
fn start_jws(spec: &KeysSpec, metrics: &Arc<KeyMetrics>) -> Result<Arc<dyn KeySource>, SourceError> {
    match &spec.location {
        KeyLocation::None => Ok(Arc::new(StaticKeys::new(KeySet::new(Vec::new()), "none"))),
        KeyLocation::Inline { keys, .. } => {
            metrics.loaded(&spec.provider, keys.len());
            Ok(Arc::new(StaticKeys::shared(keys.clone(), "inline")))
        }
        KeyLocation::File(path) => {
            Ok(file::FileKeys::start(&spec.provider, path.clone(), spec.allowed.clone(), metrics.clone())?)
        }
        KeyLocation::HmacSecret(secret) => {
            let key = VerifyingKey::hmac(None, &read_secret(secret)?, &spec.allowed)?;
            Ok(Arc::new(StaticKeys::new(KeySet::new(vec![key]), "hmac_secret")))
        }
        KeyLocation::Remote(remote) => {
            let fetcher = fetch::Fetcher::new(&remote.fetch)?;
            let settings = remote::RemoteSettings {
                provider: spec.provider.clone(),
                allowed: spec.allowed.clone(),
                spec: remote.clone(),
            };
            Ok(Arc::new(remote::RemoteKeys::start(settings, fetcher, metrics.clone())))
        }
    }
}

/// Parses an inline JWKS when the config is built, logging the keys it
/// skips (once: the document does not change until the next reload).
pub(crate) fn parse_inline(
    provider: &str,
    document: &str,
    allowed: &[Algorithm],
) -> Result<KeySet, JwksError> {
    let loaded = parse_jwks(document.as_bytes(), allowed, DEFAULT_MAX_KEYS)?;
    SkipLog::default().log(provider, &loaded.skipped);
    Ok(loaded.set)
}

pub(crate) fn read_secret(secret: &Secret) -> Result<Vec<u8>, SourceError> {
    match secret {
        Secret::Env(name) => std::env::var(name)
            .map(String::into_bytes)
            .map_err(|source| SourceError::Env { name: name.clone(), source }),
        Secret::File(path) => {
            let mut bytes =
                std::fs::read(path).map_err(|source| SourceError::Io { path: path.clone(), source })?;
            // Secret files usually end with a newline that is not part of the secret.
            while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                bytes.pop();
            }
            Ok(bytes)
        }
    }
}

/// Logs each skipped key once per source with its reason (never key
/// material), so a refresh every few minutes does not repeat the same warning.
#[derive(Default)]
pub(crate) struct SkipLog {
    seen: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl SkipLog {
    /// Logs the skipped keys not logged before; returns how many were new.
    pub(crate) fn log(&self, provider: &str, skipped: &[SkippedKey]) -> usize {
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut new = 0;
        for key in skipped {
            let kid = key.kid.as_deref().unwrap_or("");
            if seen.insert(format!("{kid}\u{0}{}", key.reason)) {
                tracing::warn!(provider, kid, reason = %key.reason, "JWKS key skipped");
                new += 1;
            }
        }
        new
    }
}

#[cfg(test)]
mod tests;
