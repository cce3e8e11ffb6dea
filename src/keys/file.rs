//! A JWKS read from a local file, re-read when the file changes (for keys
//! mounted from a Kubernetes Secret or ConfigMap, which are replaced in place).

use std::path::PathBuf;
use std::sync::{Arc, Weak};

use arc_swap::ArcSwap;

use super::jwk::{parse_jwks, DEFAULT_MAX_KEYS};
use super::key::KeySet;
use super::metrics::KeyMetrics;
use super::source::KeySource;
use super::{SkipLog, SourceError};
use crate::alg::Algorithm;
use crate::watch::{FileStamp, POLL_INTERVAL};

pub(crate) struct FileKeys {
    provider: String,
    path: PathBuf,
    allowed: Vec<Algorithm>,
    keys: ArcSwap<KeySet>,
    skip_log: SkipLog,
    metrics: Arc<KeyMetrics>,
}

impl FileKeys {
    /// Reads the file now (a missing or broken file is a start-up error) and
    /// starts watching it.
    pub(crate) fn start(
        provider: &str,
        path: PathBuf,
        allowed: Vec<Algorithm>,
        metrics: Arc<KeyMetrics>,
    ) -> Result<Arc<Self>, SourceError> {
        let skip_log = SkipLog::default();
        let keys = read(provider, &path, &allowed, &skip_log)?;
        metrics.loaded(provider, keys.len());
        let keys = ArcSwap::from_pointee(keys);
        let source = Arc::new(Self { provider: provider.to_owned(), path, allowed, keys, skip_log, metrics });
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(watch(Arc::downgrade(&source)));
        }
        Ok(source)
    }
}

fn read(
    provider: &str,
    path: &PathBuf,
    allowed: &[Algorithm],
    skip_log: &SkipLog,
) -> Result<KeySet, SourceError> {
    let bytes = std::fs::read(path).map_err(|source| SourceError::Io { path: path.clone(), source })?;
    let loaded = parse_jwks(&bytes, allowed, DEFAULT_MAX_KEYS)
        .map_err(|source| SourceError::Jwks { path: path.clone(), source })?;
    skip_log.log(provider, &loaded.skipped);
    Ok(loaded.set)
}

/// A broken rewrite keeps the previous keys: half-written files are common.
async fn watch(source: Weak<FileKeys>) {
    let mut last = source.upgrade().and_then(|s| FileStamp::of(&s.path));
    loop {
        tokio::time::sleep(POLL_INTERVAL).await;
        let Some(strong) = source.upgrade() else { return };
        let now = FileStamp::of(&strong.path);
        if now.is_none() || now == last {
            continue;
        }
        match read(&strong.provider, &strong.path, &strong.allowed, &strong.skip_log) {
            Ok(keys) => {
                strong.metrics.loaded(&strong.provider, keys.len());
                tracing::info!(provider = %strong.provider, keys = keys.len(), "JWKS file reloaded");
                strong.keys.store(Arc::new(keys));
                last = now;
            }
            Err(error) => {
                tracing::warn!(provider = %strong.provider, %error, "JWKS file unreadable, keeping previous keys")
            }
        }
    }
}

impl KeySource for FileKeys {
    fn current(&self) -> Option<Arc<KeySet>> {
        Some(self.keys.load_full())
    }

    fn kind(&self) -> &'static str {
        "file"
    }
}
