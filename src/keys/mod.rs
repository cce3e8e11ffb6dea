//! Keys: parsing JWKS documents into pre-parsed verification keys, and the
//! [`KeySource`] seam behind which fetching and caching happen. This is the
//! only part of gatehouse that does network or file I/O for a decision.
pub mod alg;
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
pub fn build_source(provider: &ProviderConfig) -> Result<Arc<dyn KeySource>, SourceError> {
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
        log_skipped(&provider.name, &loaded.skipped);
        return Ok(Arc::new(StaticKeys::new(loaded.set, "inline")));
    }
    if let Some(path) = &jwks.file {
        return Ok(file::FileKeys::start(&provider.name, path.clone(), allowed)?);
    }
    let settings = remote::RemoteSettings {
        provider: provider.name.clone(),
        url: jwks.uri.clone().unwrap_or_default(),
        allowed,
        refresh_interval: jwks.refresh_interval,
        timeout: jwks.timeout,
    };
    Ok(remote::RemoteKeys::start(settings)?)
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

/// Logs each skipped key with its reason (never key material).
pub(crate) fn log_skipped(provider: &str, skipped: &[jwk::SkippedKey]) {
    for key in skipped {
        tracing::warn!(provider, kid = key.kid.as_deref().unwrap_or(""), reason = %key.reason, "JWKS key skipped");
    }
}
