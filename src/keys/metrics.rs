//! The key sources' metrics: fetch outcomes, usable keys, time of the last
//! good load. Labels are provider names (from the config) and closed outcome sets.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
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

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LookupLabels {
    provider: String,
    result: &'static str,
}

/// Seconds; an introspection call is a network round trip to the
/// authorization server (a few ms in a cluster, up to its timeout).
const INTROSPECTION_BUCKETS: [f64; 10] = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

fn introspection_histogram() -> Histogram {
    Histogram::new(INTROSPECTION_BUCKETS)
}

/// `gatehouse_jwks_fetch_total`, `gatehouse_jwks_keys`,
/// `gatehouse_jwks_last_success_timestamp_seconds`; for opaque credentials
/// `gatehouse_introspection_requests_total`,
/// `gatehouse_introspection_cache_lookups_total`,
/// `gatehouse_introspection_duration_seconds` and `gatehouse_api_keys`.
pub(crate) struct KeyMetrics {
    fetches: Family<FetchLabels, Counter>,
    keys: Family<ProviderLabels, Gauge>,
    last_success: Family<ProviderLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    introspections: Family<FetchLabels, Counter>,
    introspection_lookups: Family<LookupLabels, Counter>,
    introspection_seconds: Family<ProviderLabels, Histogram, fn() -> Histogram>,
    api_keys: Family<ProviderLabels, Gauge>,
}

impl Default for KeyMetrics {
    fn default() -> Self {
        Self {
            fetches: Family::default(),
            keys: Family::default(),
            last_success: Family::default(),
            introspections: Family::default(),
            introspection_lookups: Family::default(),
            introspection_seconds: Family::new_with_constructor(introspection_histogram),
            api_keys: Family::default(),
        }
    }
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
        registry.register(
            "gatehouse_introspection_requests",
            "Token introspection calls by provider and outcome (active, inactive, or why there was no answer)",
            metrics.introspections.clone(),
        );
        registry.register(
            "gatehouse_introspection_cache_lookups",
            "Introspection answer cache lookups by provider and result (hit, miss)",
            metrics.introspection_lookups.clone(),
        );
        registry.register(
            "gatehouse_introspection_duration_seconds",
            "Duration of token introspection calls",
            metrics.introspection_seconds.clone(),
        );
        registry.register("gatehouse_api_keys", "API keys loaded per provider", metrics.api_keys.clone());
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

impl KeyMetrics {
    /// Counts one introspection call (or one not made: `overloaded`).
    pub(crate) fn introspected(&self, provider: &str, outcome: &'static str) {
        self.introspections.get_or_create(&FetchLabels { provider: provider.to_owned(), outcome }).inc();
    }

    /// The answer-cache lookup counters of `provider`, `(hit, miss)`: made
    /// once, so a lookup on the Check path only increments.
    pub(crate) fn introspection_lookups(&self, provider: &str) -> (Counter, Counter) {
        let counter = |result| {
            self.introspection_lookups
                .get_or_create(&LookupLabels { provider: provider.to_owned(), result })
                .clone()
        };
        (counter("hit"), counter("miss"))
    }

    pub(crate) fn introspection_duration(&self, provider: &str, elapsed: std::time::Duration) {
        self.introspection_seconds
            .get_or_create(&ProviderLabels { provider: provider.to_owned() })
            .observe(elapsed.as_secs_f64());
    }

    /// Records a load of `count` API keys.
    pub(crate) fn api_keys_loaded(&self, provider: &str, count: usize) {
        let labels = ProviderLabels { provider: provider.to_owned() };
        self.api_keys.get_or_create(&labels).set(i64::try_from(count).unwrap_or(i64::MAX));
    }
}
