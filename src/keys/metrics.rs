//! The key sources' metrics: fetch outcomes, usable keys, time of the last
//! good load. Labels are provider names (from the config) and closed outcome sets.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FetchLabels {
    provider: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: String,
}

/// `gatehouse_jwks_fetch_total`, `gatehouse_jwks_keys`,
/// `gatehouse_jwks_last_success_timestamp_seconds`.
#[derive(Default)]
pub(crate) struct KeyMetrics {
    fetches: Family<FetchLabels, Counter>,
    keys: Family<ProviderLabels, Gauge>,
    last_success: Family<ProviderLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
}

impl KeyMetrics {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "gatehouse_jwks_fetch",
            "JWKS fetches by provider and outcome",
            metrics.fetches.clone(),
        );
        registry.register("gatehouse_jwks_keys", "Usable keys loaded per provider", metrics.keys.clone());
        registry.register(
            "gatehouse_jwks_last_success_timestamp_seconds",
            "Unix time of the last successful key load per provider",
            metrics.last_success.clone(),
        );
        metrics
    }

    /// Counts one fetch; `outcome` is `success` or a `FetchError::outcome()` label.
    pub(crate) fn fetched(&self, provider: &str, outcome: &'static str) {
        self.fetches.get_or_create(&FetchLabels { provider: provider.to_owned(), outcome }).inc();
    }

    /// Records a successful load of `count` usable keys.
    pub(crate) fn loaded(&self, provider: &str, count: usize) {
        let labels = ProviderLabels { provider: provider.to_owned() };
        self.keys.get_or_create(&labels).set(i64::try_from(count).unwrap_or(i64::MAX));
        self.last_success.get_or_create(&labels).set(crate::clock::since_epoch().as_secs_f64());
    }
}
