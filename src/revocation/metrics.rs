//! Revocation metrics: live entries by provider and kind, whether Redis is
//! reachable, when the last entry was applied.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::entry::{Revocation, Selector};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EntryLabels {
    provider: String,
    kind: &'static str,
}

/// `gatehouse_revocations{provider,kind}`, `gatehouse_revocation_redis_up`,
/// `gatehouse_revocation_last_applied_timestamp_seconds`.
#[derive(Default)]
pub(crate) struct RevocationMetrics {
    entries: Family<EntryLabels, Gauge>,
    redis_up: Gauge,
    last_applied: Gauge<f64, AtomicU64>,
    /// Issuer → provider name, for the labels (issuers are not config names).
    providers: HashMap<String, String>,
}

impl RevocationMetrics {
    /// `providers`: each provider's issuer and name.
    pub(crate) fn register(registry: &mut Registry, providers: HashMap<String, String>) -> Self {
        let metrics = Self { providers, ..Self::default() };
        registry.register("gatehouse_revocations", "Live revocation entries", metrics.entries.clone());
        registry.register(
            "gatehouse_revocation_redis_up",
            "1 while the revocation stream in Redis is being followed",
            metrics.redis_up.clone(),
        );
        registry.register(
            "gatehouse_revocation_last_applied_timestamp_seconds",
            "Unix time this replica last applied a revocation",
            metrics.last_applied.clone(),
        );
        metrics
    }

    /// Sets the entry gauges to what `entries` holds. Every provider and
    /// kind has its series, 0 included, so that none vanishes between scrapes.
    pub(crate) fn count<'a>(&self, entries: impl Iterator<Item = &'a Revocation>) {
        let mut counts: HashMap<EntryLabels, i64> = HashMap::new();
        for provider in self.providers.values() {
            for kind in Selector::KINDS {
                counts.insert(EntryLabels { provider: provider.clone(), kind }, 0);
            }
        }
        for entry in entries {
            // Entries name configured issuers only (checked when taken in).
            let provider = self.providers.get(&entry.issuer).cloned().unwrap_or_default();
            *counts.entry(EntryLabels { provider, kind: entry.selector.kind() }).or_default() += 1;
        }
        for (labels, count) in counts {
            self.entries.get_or_create(&labels).set(count);
        }
    }

    /// Entries were just applied.
    pub(crate) fn applied(&self) {
        self.last_applied.set(crate::clock::since_epoch().as_secs_f64());
    }

    pub(crate) fn redis_up(&self, up: bool) {
        self.redis_up.set(i64::from(up));
    }
}
