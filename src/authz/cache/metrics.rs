//! The token cache's metrics: what it holds (entries, weighted bytes), how
//! Checks fare (hits, misses) and why entries leave (evictions by cause).
//! One set per process, shared by every policy a reload compiles.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LookupLabels {
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EvictionLabels {
    cause: &'static str,
}

/// `gatehouse_token_cache_entries`, `gatehouse_token_cache_weighted_bytes`,
/// `gatehouse_token_cache_lookups_total{result}`,
/// `gatehouse_token_cache_evictions_total{cause}`.
#[derive(Default)]
pub(crate) struct CacheMetrics {
    entries: Gauge,
    weighted_bytes: Gauge,
    hits: Counter,
    misses: Counter,
    evictions: Family<EvictionLabels, Counter>,
}

impl CacheMetrics {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        let lookups = Family::<LookupLabels, Counter>::default();
        // Made up front: a lookup only increments a counter it holds.
        let hits = lookups.get_or_create(&LookupLabels { result: "hit" }).clone();
        let misses = lookups.get_or_create(&LookupLabels { result: "miss" }).clone();
        for cause in ["expired", "size", "invalidated", "replaced"] {
            let _ = metrics.evictions.get_or_create(&EvictionLabels { cause });
        }
        registry.register("gatehouse_token_cache_entries", "Verified tokens held", metrics.entries.clone());
        registry.register(
            "gatehouse_token_cache_weighted_bytes",
            "Estimated memory of the verified tokens held (what cache.max_bytes bounds)",
            metrics.weighted_bytes.clone(),
        );
        registry.register(
            "gatehouse_token_cache_lookups",
            "Checks with a token, by whether its verification was found in the cache",
            lookups,
        );
        registry.register(
            "gatehouse_token_cache_evictions",
            "Entries that left the cache, by cause (expired; size: the byte budget; invalidated: its key or API key is gone; replaced)",
            metrics.evictions.clone(),
        );
        Self { hits, misses, ..metrics }
    }

    pub(crate) fn lookup(&self, hit: bool) {
        if hit { &self.hits } else { &self.misses }.inc();
    }

    pub(crate) fn inserted(&self, weight: u32) {
        self.entries.inc();
        self.weighted_bytes.inc_by(i64::from(weight));
    }

    pub(crate) fn removed(&self, weight: u32, cause: moka::notification::RemovalCause) {
        use moka::notification::RemovalCause;
        self.entries.dec();
        self.weighted_bytes.dec_by(i64::from(weight));
        let cause = match cause {
            RemovalCause::Expired => "expired",
            RemovalCause::Size => "size",
            RemovalCause::Explicit => "invalidated",
            RemovalCause::Replaced => "replaced",
        };
        self.evictions.get_or_create(&EvictionLabels { cause }).inc();
    }
}

/// Where a policy's token cache reports. Settings compare equal whatever
/// handle they carry: it is where numbers go, not a setting.
#[derive(Clone, Default)]
pub(crate) struct CacheMetricsHandle(pub(crate) Arc<CacheMetrics>);

impl PartialEq for CacheMetricsHandle {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Eq for CacheMetricsHandle {}

impl std::fmt::Debug for CacheMetricsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CacheMetricsHandle")
    }
}
