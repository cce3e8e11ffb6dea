//! A JWKS fetched over HTTP(S) and refreshed in the background. The Check
//! path reads the last good key set through an atomic pointer and never waits
//! on the network.

use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwapOption;

use super::alg::Algorithm;
use super::jwk::{parse_jwks, JwksError, DEFAULT_MAX_KEYS};
use super::key::KeySet;
use super::log_skipped;
use super::source::KeySource;

/// Largest JWKS body accepted.
pub const DEFAULT_MAX_JWKS_BYTES: usize = 1024 * 1024;

/// Why one fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("unexpected HTTP status {0}")]
    Status(u16),
    #[error("response is larger than {0} bytes")]
    TooLarge(usize),
    #[error(transparent)]
    Jwks(#[from] JwksError),
}

/// Where and how to fetch.
#[derive(Debug, Clone)]
pub struct RemoteSettings {
    pub provider: String,
    pub url: String,
    pub allowed: Vec<Algorithm>,
    pub refresh_interval: Duration,
    pub timeout: Duration,
}

/// A remote JWKS key source.
pub struct RemoteKeys {
    settings: RemoteSettings,
    client: reqwest::Client,
    keys: ArcSwapOption<KeySet>,
}

impl RemoteKeys {
    /// Creates the source and starts its refresh task, which stops when the
    /// source is dropped (e.g. after a config reload removed the provider).
    pub fn start(settings: RemoteSettings) -> Result<Arc<Self>, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(settings.timeout)
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let source = Arc::new(Self { settings, client, keys: ArcSwapOption::empty() });
        tokio::spawn(refresh_loop(Arc::downgrade(&source)));
        Ok(source)
    }

    /// Fetches and parses the JWKS once; on success the new set replaces the old.
    pub async fn refresh(&self) -> Result<usize, FetchError> {
        let body = self.fetch_body().await?;
        let loaded = parse_jwks(&body, &self.settings.allowed, DEFAULT_MAX_KEYS)?;
        log_skipped(&self.settings.provider, &loaded.skipped);
        let count = loaded.set.len();
        self.keys.store(Some(Arc::new(loaded.set)));
        Ok(count)
    }

    async fn fetch_body(&self) -> Result<Vec<u8>, FetchError> {
        let mut response =
            self.client.get(&self.settings.url).header("accept", "application/json").send().await?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > DEFAULT_MAX_JWKS_BYTES {
                return Err(FetchError::TooLarge(DEFAULT_MAX_JWKS_BYTES));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Fetch now, then every `refresh_interval`; after a failure retry sooner,
/// backing off from 1s up to the interval. The last good set stays in use.
async fn refresh_loop(source: Weak<RemoteKeys>) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let Some(strong) = source.upgrade() else { return };
        let interval = strong.settings.refresh_interval;
        let wait = match strong.refresh().await {
            Ok(count) => {
                tracing::info!(provider = %strong.settings.provider, keys = count, "JWKS loaded");
                backoff = Duration::from_secs(1);
                interval
            }
            Err(error) => {
                tracing::warn!(provider = %strong.settings.provider, %error, "JWKS fetch failed, keeping the last good keys");
                let wait = backoff.min(interval);
                backoff = (backoff * 2).min(interval);
                wait
            }
        };
        drop(strong);
        tokio::time::sleep(wait).await;
    }
}

impl KeySource for RemoteKeys {
    fn current(&self) -> Option<Arc<KeySet>> {
        self.keys.load_full()
    }

    fn kind(&self) -> &'static str {
        "remote"
    }
}
