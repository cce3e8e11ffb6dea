//! Live configuration reload, on SIGHUP and when the config file changes.
//!
//! A new file is loaded and built off the Check path; if it is good, its
//! snapshot is swapped in atomically (Checks in flight finish on the one
//! they started with). Key sources of providers whose key spec did not
//! change are carried over, so their caches and refresh schedules survive.
//! A bad file changes nothing: every problem is logged and counted.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::authz::{CacheMetrics, Policy};
use crate::config::{ServerConfig, Specs};
use crate::keys::{self, KeyMetrics, KeysSpec, ProviderKeys};
use crate::revocation::{RevocationSpec, Revocations};
use crate::server::{Live, Snapshot};
use crate::telemetry::ExportSettings;
use crate::watch::{FileStamp, POLL_INTERVAL};

/// Reload outcomes, a closed set of label values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReloadOutcome {
    /// The new configuration is live.
    Success,
    /// The file did not load or validate; the old configuration stays.
    Invalid,
    /// Valid, but starting it (a key source's I/O) failed; the old configuration stays.
    Failed,
}

impl ReloadOutcome {
    const fn as_str(self) -> &'static str {
        match self {
            ReloadOutcome::Success => "success",
            ReloadOutcome::Invalid => "invalid",
            ReloadOutcome::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    outcome: &'static str,
}

/// `gatehouse_config_reload_total{outcome}`, `gatehouse_config_last_reload_success`
/// (1 when the last load or reload made its file live) and
/// `gatehouse_config_last_reload_success_timestamp_seconds`.
#[derive(Default)]
pub(crate) struct ReloadMetrics {
    reloads: Family<ReloadLabels, Counter>,
    last_success: Gauge,
    last_success_time: Gauge<f64, AtomicU64>,
}

impl ReloadMetrics {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "gatehouse_config_reload",
            "Configuration reloads by outcome",
            metrics.reloads.clone(),
        );
        registry.register(
            "gatehouse_config_last_reload_success",
            "1 if the last configuration load or reload made its file live, else 0",
            metrics.last_success.clone(),
        );
        registry.register(
            "gatehouse_config_last_reload_success_timestamp_seconds",
            "Unix time the configuration in force was made live",
            metrics.last_success_time.clone(),
        );
        // Every outcome from the start, so `rate()` and alerts see a 0 first.
        for outcome in [ReloadOutcome::Success, ReloadOutcome::Invalid, ReloadOutcome::Failed] {
            let _ = metrics.reloads.get_or_create(&ReloadLabels { outcome: outcome.as_str() });
        }
        // The file loaded at start is the first success.
        metrics.last_success.set(1);
        metrics.last_success_time.set(crate::clock::since_epoch().as_secs_f64());
        metrics
    }

    fn record(&self, outcome: ReloadOutcome) {
        self.reloads.get_or_create(&ReloadLabels { outcome: outcome.as_str() }).inc();
        let success = outcome == ReloadOutcome::Success;
        self.last_success.set(i64::from(success));
        if success {
            self.last_success_time.set(crate::clock::since_epoch().as_secs_f64());
        }
    }
}

/// What a reload compares against: the key specs in force with the sources
/// started for them, and the settings only a restart applies.
pub(crate) struct Running {
    /// The token cache metrics every compiled policy reports to.
    pub(crate) cache_metrics: Arc<CacheMetrics>,
    pub(crate) keys: Vec<KeysSpec>,
    pub(crate) sources: Vec<ProviderKeys>,
    pub(crate) server: ServerConfig,
    pub(crate) telemetry: Option<ExportSettings>,
    /// Revocations are started once; their settings change only on restart.
    pub(crate) revocation: Option<RevocationSpec>,
    /// The store every compiled policy checks.
    pub(crate) store: Option<Arc<Revocations>>,
    /// Whether the admin listener runs.
    pub(crate) admin: bool,
}

/// Reloads one config file into one [`Live`] snapshot.
pub(crate) struct Reloader {
    path: PathBuf,
    live: Arc<Live>,
    key_metrics: Arc<KeyMetrics>,
    metrics: ReloadMetrics,
    /// Kept for the next reload: which specs the running sources were built from.
    running: Mutex<Running>,
    /// The file's state when the running config was read, so a change made
    /// before the watcher first runs is not missed.
    loaded_state: Option<FileStamp>,
}

impl Reloader {
    pub(crate) fn new(
        path: PathBuf,
        running: Running,
        live: Arc<Live>,
        key_metrics: Arc<KeyMetrics>,
        metrics: ReloadMetrics,
    ) -> Self {
        let loaded_state = FileStamp::of(&path);
        Self { path, live, key_metrics, metrics, running: Mutex::new(running), loaded_state }
    }

    /// Loads the file and, if it is valid, makes it live.
    pub(crate) fn reload(&self) -> ReloadOutcome {
        let outcome = self.try_reload();
        self.metrics.record(outcome);
        outcome
    }

    fn try_reload(&self) -> ReloadOutcome {
        let Specs { mut policy, keys, server, telemetry, decision_log, revocation, admin, .. } =
            match crate::config::load_file(&self.path) {
                Ok(specs) => specs,
                Err(error) => {
                    for problem in error.to_string().lines() {
                        tracing::error!(path = %self.path.display(), problem, "config reload refused; keeping the current config");
                    }
                    return ReloadOutcome::Invalid;
                }
            };
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        for (section, changed) in [
            ("server", server != running.server),
            ("telemetry", telemetry != running.telemetry),
            ("revocation", revocation != running.revocation || admin.is_some() != running.admin),
        ] {
            if changed {
                tracing::warn!(section, "settings changed that take effect only after a restart");
            }
        }
        let sources = match self.sources_for(&keys, &running) {
            Ok(sources) => sources,
            Err(error) => {
                tracing::error!(%error, "config reload failed; keeping the current config");
                return ReloadOutcome::Failed;
            }
        };
        let (providers, rules) = (keys.len(), policy.routing.rules.len());
        policy.report_cache_to(&running.cache_metrics);
        let compiled = Policy::compile(policy, sources.clone(), running.store.clone());
        self.live.replace(Snapshot::new(compiled, decision_log));
        tracing::info!(path = %self.path.display(), providers, rules, "config reloaded");
        running.keys = keys;
        running.sources = sources;
        ReloadOutcome::Success
    }

    /// Reuses the key source of every provider whose key spec is unchanged.
    fn sources_for(
        &self,
        specs: &[KeysSpec],
        running: &Running,
    ) -> Result<Vec<ProviderKeys>, keys::SourceError> {
        specs
            .iter()
            .map(|spec| match running.keys.iter().position(|old| old == spec) {
                Some(index) => Ok(running.sources[index].clone()),
                None => keys::start(spec, &self.key_metrics),
            })
            .collect()
    }

    /// Reloads on SIGHUP and whenever the file's modification time or size
    /// changes (a Kubernetes ConfigMap update swaps a symlink: this follows it).
    pub(crate) async fn watch(self: Arc<Self>) {
        let mut last = self.loaded_state;
        let mut hangup = hangup_signal();
        let mut poll = tokio::time::interval(POLL_INTERVAL);
        loop {
            tokio::select! {
                _ = recv(&mut hangup) => {
                    tracing::info!("SIGHUP: reloading the config");
                    last = FileStamp::of(&self.path);
                    self.reload();
                }
                _ = poll.tick() => {
                    let now = FileStamp::of(&self.path);
                    if now.is_some() && now != last {
                        last = now;
                        self.reload();
                    }
                }
            }
        }
    }
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = Option<()>;

#[cfg(unix)]
fn hangup_signal() -> Hangup {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}
#[cfg(not(unix))]
fn hangup_signal() -> Hangup {
    None
}

/// Waits for the next SIGHUP, or forever where there is none.
async fn recv(hangup: &mut Hangup) {
    #[cfg(unix)]
    if let Some(signal) = hangup {
        if signal.recv().await.is_some() {
            return;
        }
    }
    std::future::pending::<()>().await
}
