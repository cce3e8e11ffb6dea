//! A JWKS fetched over HTTP(S) (directly or via OIDC discovery), cached and
//! refreshed off the request path.
//!
//! - The last good key set lives in a moka cache whose time-to-live is
//!   `max_stale`: every successful fetch re-inserts it, so after `max_stale`
//!   without one the keys are dropped and the provider denies with 503.
//! - Every fetch, scheduled or caused by an unknown `kid`, goes through one
//!   shared in-flight future: concurrent callers wait on the same request.
//! - Unknown-`kid` fetches are rate-limited to one per `min_refresh_interval`,
//!   so a flood of tokens with random `kid`s cannot hammer the IdP.
//! - A fetch runs as a task of its own, started when requested: a Check that
//!   stops waiting for it (`limits.unknown_kid_wait`, or Envoy's timeout)
//!   never cancels it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use futures_util::future::{FutureExt, Shared};
use rand::Rng;
use tokio::time::Instant;

use super::fetch::{FetchError, FetchSettings, Fetcher};
use super::jwk::{parse_jwks, DEFAULT_MAX_KEYS};
use super::key::KeySet;
use super::metrics::KeyMetrics;
use super::source::{BoxFuture, KeySource};
use super::SkipLog;
use crate::alg::Algorithm;

/// Where the JWKS is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// A JWKS URL.
    Uri(String),
    /// An issuer URL to run OIDC discovery against; `issuer` is what the
    /// discovery document must claim to be.
    Discovery { url: String, issuer: String },
}

/// Where a remote JWKS is and how its cache behaves (`providers[].jwks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteSpec {
    pub(crate) location: Location,
    /// Background refresh period (jittered ±10%).
    pub(crate) refresh_interval: Duration,
    /// Least time between two fetches caused by unknown `kid`s.
    pub(crate) min_refresh_interval: Duration,
    /// How long the last good key set outlives failed refreshes.
    pub(crate) max_stale: Duration,
    /// How long `/readyz` waits for the first key set.
    pub(crate) startup_timeout: Duration,
    pub(crate) fetch: FetchSettings,
}

/// One running remote source: its provider, pinned algorithms and spec.
#[derive(Debug, Clone)]
pub(crate) struct RemoteSettings {
    pub(crate) provider: String,
    pub(crate) allowed: Vec<Algorithm>,
    pub(crate) spec: RemoteSpec,
}

type SharedFetch = Shared<BoxFuture<'static, bool>>;

/// A remote JWKS key source.
pub(crate) struct RemoteKeys {
    inner: Arc<Inner>,
}

struct Inner {
    settings: RemoteSettings,
    fetcher: Fetcher,
    keys: moka::sync::Cache<(), Arc<KeySet>>,
    /// `jwks_uri` from discovery, cleared after a failed fetch so the next
    /// attempt discovers again (the IdP may have moved its keys).
    discovered: Mutex<Option<String>>,
    inflight: Mutex<Option<SharedFetch>>,
    /// Start of the last fetch caused by an unknown `kid` (scheduled
    /// refreshes do not count, so a rotation just after one is seen at once).
    last_unknown_kid_fetch: Mutex<Option<Instant>>,
    started: Instant,
    loaded_once: AtomicBool,
    skip_log: SkipLog,
    metrics: Arc<KeyMetrics>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded data stays consistent even if a holder panicked: take it.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl RemoteKeys {
    /// Creates the source and starts its refresh task (the first fetch runs
    /// at once). The task stops when the source is dropped.
    pub(crate) fn start(settings: RemoteSettings, fetcher: Fetcher, metrics: Arc<KeyMetrics>) -> Self {
        let keys = moka::sync::Cache::builder().max_capacity(1).time_to_live(settings.spec.max_stale).build();
        let inner = Arc::new(Inner {
            settings,
            fetcher,
            keys,
            discovered: Mutex::new(None),
            inflight: Mutex::new(None),
            last_unknown_kid_fetch: Mutex::new(None),
            started: Instant::now(),
            loaded_once: AtomicBool::new(false),
            skip_log: SkipLog::default(),
            metrics,
        });
        tokio::spawn(refresh_loop(Arc::downgrade(&inner)));
        Self { inner }
    }
}

impl Inner {
    /// Joins the fetch in flight, or starts one.
    fn fetch_shared(self: &Arc<Self>) -> SharedFetch {
        let mut inflight = lock(&self.inflight);
        match inflight.as_ref() {
            Some(fetch) => fetch.clone(),
            None => self.start_fetch(&mut inflight),
        }
    }

    /// Joins the fetch in flight, or starts one if the unknown-`kid` rate
    /// limit allows; `None` when it does not. The in-flight slot stays locked
    /// throughout, so two callers can never both miss a fetch one of them starts.
    fn fetch_for_unknown_kid(self: &Arc<Self>) -> Option<SharedFetch> {
        let mut inflight = lock(&self.inflight);
        if let Some(fetch) = inflight.as_ref() {
            return Some(fetch.clone());
        }
        {
            let mut last = lock(&self.last_unknown_kid_fetch);
            if last.is_some_and(|at| at.elapsed() < self.settings.spec.min_refresh_interval) {
                return None;
            }
            *last = Some(Instant::now());
        }
        Some(self.start_fetch(&mut inflight))
    }

    /// Starts a fetch and parks it in the (locked) in-flight slot; the fetch
    /// empties the slot when it ends. It runs as its own task: a Check that
    /// started it and is then cancelled (Envoy's timeout) must not stall it
    /// for everyone joined to it.
    fn start_fetch(self: &Arc<Self>, slot: &mut Option<SharedFetch>) -> SharedFetch {
        let inner = self.clone();
        let task = tokio::spawn(async move {
            let _clear = ClearOnDrop(&inner.inflight);
            inner.fetch_once().await
        });
        let fetch: BoxFuture<'static, bool> = Box::pin(async move { task.await.unwrap_or(false) });
        let fetch = fetch.shared();
        *slot = Some(fetch.clone());
        fetch
    }

    /// One fetch: resolve the URL, download, parse, and on success replace the
    /// cached key set. A failure leaves the last good set in place.
    async fn fetch_once(&self) -> bool {
        let provider = self.settings.provider.as_str();
        match self.download().await {
            Ok(keys) => {
                let count = keys.len();
                self.keys.insert((), Arc::new(keys));
                self.loaded_once.store(true, Ordering::Release);
                self.metrics.fetched(provider, "success");
                self.metrics.loaded(provider, count);
                tracing::debug!(provider, keys = count, "JWKS refreshed");
                true
            }
            Err(error) => {
                *lock(&self.discovered) = None;
                self.metrics.fetched(provider, error.outcome());
                tracing::warn!(provider, %error, "JWKS fetch failed; keeping the last good keys");
                false
            }
        }
    }

    async fn download(&self) -> Result<KeySet, FetchError> {
        let url = match &self.settings.spec.location {
            Location::Uri(url) => url.clone(),
            Location::Discovery { url, issuer } => {
                let cached = lock(&self.discovered).clone();
                match cached {
                    Some(jwks_uri) => jwks_uri,
                    None => {
                        let jwks_uri = self.fetcher.discover(url, issuer).await?;
                        *lock(&self.discovered) = Some(jwks_uri.clone());
                        jwks_uri
                    }
                }
            }
        };
        let body = self.fetcher.get(&url).await?;
        let loaded = parse_jwks(&body, &self.settings.allowed, DEFAULT_MAX_KEYS)?;
        self.skip_log.log(&self.settings.provider, &loaded.skipped);
        Ok(loaded.set)
    }
}

/// Empties the in-flight slot when the fetch task ends, even by panic.
struct ClearOnDrop<'a>(&'a Mutex<Option<SharedFetch>>);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        *lock(self.0) = None;
    }
}

/// Fetch, then wait `refresh_interval` ±10% after a success, or back off
/// exponentially (1s doubling, capped at `refresh_interval`) after a failure.
async fn refresh_loop(source: Weak<Inner>) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let Some(inner) = source.upgrade() else { return };
        let interval = inner.settings.spec.refresh_interval;
        let fetch = inner.fetch_shared();
        drop(inner);
        let wait = if fetch.await {
            backoff = Duration::from_secs(1);
            jittered(interval)
        } else {
            let wait = backoff.min(interval);
            backoff = (backoff * 2).min(interval);
            wait
        };
        tokio::time::sleep(wait).await;
    }
}

/// Spreads refreshes of many replicas so they do not hit the IdP in step.
fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(rand::rng().random_range(0.9..=1.1))
}

impl KeySource for RemoteKeys {
    fn current(&self) -> Option<Arc<KeySet>> {
        self.inner.keys.get(&())
    }

    fn refresh_for_unknown_kid(&self) -> BoxFuture<'_, bool> {
        // Starts the fetch now, not when the future is first polled (see the trait).
        match self.inner.fetch_for_unknown_kid() {
            Some(fetch) => Box::pin(fetch),
            None => Box::pin(std::future::ready(false)),
        }
    }

    fn awaiting_first_keys(&self) -> bool {
        !self.inner.loaded_once.load(Ordering::Acquire)
            && self.inner.started.elapsed() < self.inner.settings.spec.startup_timeout
    }

    fn kind(&self) -> &'static str {
        "remote"
    }
}
