//! Live configuration reload, on SIGHUP and when the config file changes.
//!
//! A new file is loaded and validated off the Check path; if it is good, the
//! compiled policy is swapped in atomically (Checks in flight finish on the
//! policy they started with). Key sources of providers whose key settings did
//! not change are carried over, so their caches and refresh schedules survive.
//! A bad file changes nothing: every problem is logged and counted.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::authz::{Authorizer, Policy};
use crate::config::{Config, ProviderConfig};
use crate::keys::{self, KeySource};
use crate::telemetry::ops::{OpsMetrics, ReloadOutcome};
use crate::telemetry::KeyMetrics;

/// How often the file's modification time is checked.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Reloads one config file into one authorizer.
pub struct Reloader {
    path: PathBuf,
    authorizer: Arc<Authorizer>,
    key_metrics: Arc<KeyMetrics>,
    ops_metrics: Arc<OpsMetrics>,
    live: Mutex<Live>,
    /// The file's state when the live config was read, so a change made
    /// before the watcher first runs is not missed.
    loaded_state: Option<(SystemTime, u64)>,
}

/// The configuration in force and the key sources built for it.
struct Live {
    config: Config,
    sources: Vec<Arc<dyn KeySource>>,
}

impl Reloader {
    pub fn new(
        path: PathBuf,
        config: Config,
        sources: Vec<Arc<dyn KeySource>>,
        authorizer: Arc<Authorizer>,
        key_metrics: Arc<KeyMetrics>,
        ops_metrics: Arc<OpsMetrics>,
    ) -> Self {
        let loaded_state = modified(&path);
        Self {
            path,
            authorizer,
            key_metrics,
            ops_metrics,
            live: Mutex::new(Live { config, sources }),
            loaded_state,
        }
    }

    /// Loads the file and, if it is valid, makes it live.
    pub fn reload(&self) -> ReloadOutcome {
        let outcome = self.try_reload();
        self.ops_metrics.reloaded(outcome);
        outcome
    }

    fn try_reload(&self) -> ReloadOutcome {
        let config = match crate::config::load_file(&self.path) {
            Ok(config) => config,
            Err(error) => {
                for problem in error.to_string().lines() {
                    tracing::error!(path = %self.path.display(), problem, "config reload refused; keeping the current config");
                }
                return ReloadOutcome::Invalid;
            }
        };
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        for (section, changed) in [
            ("server", config.server != live.config.server),
            ("telemetry", config.telemetry != live.config.telemetry),
        ] {
            if changed {
                tracing::warn!(section, "settings changed that take effect only after a restart");
            }
        }
        let sources = match self.sources_for(&config, &live) {
            Ok(sources) => sources,
            Err(error) => {
                tracing::error!(%error, "config reload failed; keeping the current config");
                return ReloadOutcome::Failed;
            }
        };
        match Policy::compile(&config, sources.clone()) {
            Ok(policy) => self.authorizer.replace(policy),
            Err(error) => {
                tracing::error!(%error, "config reload failed; keeping the current config");
                return ReloadOutcome::Failed;
            }
        }
        tracing::info!(path = %self.path.display(), providers = config.providers.len(), rules = config.rules.len(), "config reloaded");
        *live = Live { config, sources };
        ReloadOutcome::Success
    }

    /// Reuses the key source of every provider whose key settings are unchanged.
    fn sources_for(
        &self,
        config: &Config,
        live: &Live,
    ) -> Result<Vec<Arc<dyn KeySource>>, keys::SourceError> {
        config
            .providers
            .iter()
            .map(|provider| {
                let same = live.config.providers.iter().position(|old| same_keys(old, provider));
                match same {
                    Some(index) => Ok(live.sources[index].clone()),
                    None => keys::build_source(provider, &self.key_metrics),
                }
            })
            .collect()
    }

    /// Reloads on SIGHUP and whenever the file's modification time or size
    /// changes (a Kubernetes ConfigMap update swaps a symlink: this follows it).
    pub async fn watch(self: Arc<Self>) {
        let mut last = self.loaded_state;
        let mut hangup = hangup_signal();
        let mut poll = tokio::time::interval(POLL_INTERVAL);
        loop {
            tokio::select! {
                _ = recv(&mut hangup) => {
                    tracing::info!("SIGHUP: reloading the config");
                    last = modified(&self.path);
                    self.reload();
                }
                _ = poll.tick() => {
                    let now = modified(&self.path);
                    if now.is_some() && now != last {
                        last = now;
                        self.reload();
                    }
                }
            }
        }
    }
}

/// Two providers can share a key source when everything the source is built
/// from is the same.
fn same_keys(old: &ProviderConfig, new: &ProviderConfig) -> bool {
    old.name == new.name
        && old.issuer == new.issuer
        && old.effective_algorithms() == new.effective_algorithms()
        && old.jwks == new.jwks
        && old.hmac_secret == new.hmac_secret
}

fn modified(path: &PathBuf) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
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
