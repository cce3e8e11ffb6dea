//! Keys: parsing JWKS documents into pre-parsed verification keys, and the
//! [`KeySource`] seam behind which fetching and caching happen. This is the
//! only part of gatehouse that does network or file I/O for a decision.
pub mod alg;
pub mod fetch;
pub mod file;
pub mod jwk;
pub mod key;
pub mod remote;
pub mod source;

use std::path::PathBuf;
use std::sync::Arc;

pub use alg::{Algorithm, KeyFamily};
pub use key::{BadSignature, KeyError, KeyLookup, KeySet, VerifyingKey};
pub use source::{BoxFuture, KeySource, StaticKeys};

use crate::config::{ProviderConfig, SecretSource};
use crate::telemetry::KeyMetrics;

/// Why a provider's key source could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("environment variable `{0}` is not set or not valid UTF-8")]
    MissingEnv(String),
    #[error(transparent)]
    Jwks(#[from] jwk::JwksError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("cannot build HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Builds the key source a validated provider config describes. Remote and
/// file sources start their background tasks (requires a Tokio runtime).
pub fn build_source(
    provider: &ProviderConfig,
    metrics: &Arc<KeyMetrics>,
) -> Result<Arc<dyn KeySource>, SourceError> {
    let allowed = provider.effective_algorithms();
    if let Some(secret) = &provider.hmac_secret {
        let key = VerifyingKey::hmac(None, &read_secret(secret)?, &allowed)?;
        return Ok(Arc::new(StaticKeys::new(KeySet::new(vec![key]), "hmac_secret")));
    }
    let Some(jwks) = &provider.jwks else {
        return Err(SourceError::Jwks(jwk::JwksError::Malformed("no key source configured".into())));
    };
    if let Some(inline) = &jwks.inline {
        let loaded = jwk::parse_jwks(inline.as_bytes(), &allowed, jwk::DEFAULT_MAX_KEYS)?;
        SkipLog::default().log(&provider.name, &loaded.skipped);
        metrics.loaded(&provider.name, loaded.set.len());
        return Ok(Arc::new(StaticKeys::new(loaded.set, "inline")));
    }
    if let Some(path) = &jwks.file {
        return Ok(file::FileKeys::start(&provider.name, path.clone(), allowed, metrics.clone())?);
    }
    let location = match (&jwks.uri, &jwks.discovery) {
        (Some(uri), _) => remote::Location::Uri(uri.clone()),
        (None, Some(url)) => {
            remote::Location::Discovery { url: url.clone(), issuer: provider.issuer.clone() }
        }
        (None, None) => {
            return Err(SourceError::Jwks(jwk::JwksError::Malformed("no key source configured".into())))
        }
    };
    let settings = remote::RemoteSettings {
        provider: provider.name.clone(),
        location,
        allowed,
        refresh_interval: jwks.refresh_interval,
        min_refresh_interval: jwks.effective_min_refresh_interval(),
        max_stale: jwks.max_stale,
        startup_timeout: jwks.startup_timeout,
    };
    let fetcher = fetch::Fetcher::new(jwks.timeout, jwks.max_bytes, jwks.allow_http)?;
    Ok(Arc::new(remote::RemoteKeys::start(settings, fetcher, metrics.clone())))
}

fn read_secret(source: &SecretSource) -> Result<Vec<u8>, SourceError> {
    if let Some(name) = &source.env {
        return std::env::var(name)
            .map(String::into_bytes)
            .map_err(|_| SourceError::MissingEnv(name.clone()));
    }
    let path = source.file.clone().unwrap_or_default();
    let mut bytes = std::fs::read(&path).map_err(|source| SourceError::Io { path, source })?;
    // Secret files usually end with a newline that is not part of the secret.
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    Ok(bytes)
}

/// Logs each skipped key once per source with its reason (never key
/// material), so a refresh every few minutes does not repeat the same warning.
#[derive(Default)]
pub(crate) struct SkipLog {
    seen: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl SkipLog {
    /// Logs the skipped keys not logged before; returns how many were new.
    pub(crate) fn log(&self, provider: &str, skipped: &[jwk::SkippedKey]) -> usize {
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
mod tests {
    use super::*;

    #[test]
    fn each_skipped_key_is_logged_once() {
        let log = SkipLog::default();
        let doc = br#"{"keys":[{"kid":"a","kty":"RSA","use":"enc"},{"kid":"b","kty":"foo"}]}"#;
        let skipped = jwk::parse_jwks(doc, &[Algorithm::RS256], 10).unwrap().skipped;
        assert_eq!(log.log("corp", &skipped), 2);
        assert_eq!(log.log("corp", &skipped), 0, "a refresh with the same keys logs nothing");
        let other =
            jwk::parse_jwks(br#"{"keys":[{"kid":"c","kty":"foo"}]}"#, &[Algorithm::RS256], 10).unwrap();
        assert_eq!(log.log("corp", &other.skipped), 1);
    }
}
