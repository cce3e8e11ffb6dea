//! Process-level operations metrics: build info and configuration reloads.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// Reload outcomes, a closed set of label values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The new configuration is live.
    Success,
    /// The file did not load or validate; the old configuration stays.
    Invalid,
    /// Valid, but building it (keys, rules) failed; the old configuration stays.
    Failed,
}

impl ReloadOutcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            ReloadOutcome::Success => "success",
            ReloadOutcome::Invalid => "invalid",
            ReloadOutcome::Failed => "failed",
        }
    }
}

/// `gatehouse_config_reload_total{outcome}` and `gatehouse_build_info{version}`.
#[derive(Default)]
pub struct OpsMetrics {
    reloads: Family<ReloadLabels, Counter>,
}

impl OpsMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "gatehouse_config_reload",
            "Configuration reloads by outcome",
            metrics.reloads.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build.get_or_create(&BuildLabels { version: env!("CARGO_PKG_VERSION") }).set(1);
        registry.register("gatehouse_build_info", "Build information (always 1)", build);
        metrics
    }

    pub fn reloaded(&self, outcome: ReloadOutcome) {
        self.reloads.get_or_create(&ReloadLabels { outcome: outcome.as_str() }).inc();
    }
}
