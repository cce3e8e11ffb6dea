//! Logs and metrics. Metrics live in one `prometheus_client` registry created
//! at start-up and passed down; label values come from closed sets (decision,
//! deny reason) or from the configuration (provider and rule names), never
//! from tokens, claims or paths.

pub mod ops;
pub mod process;

pub mod tracing;

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tracing_subscriber::EnvFilter;

use crate::authz::Decision;

/// Output format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global tracing subscriber, once, at start-up. `RUST_LOG`
/// overrides `default_filter` (for log lines only). The subscriber also holds
/// the span export slot that [`tracing::start_export`] fills when the config
/// sets `telemetry.otlp_endpoint`; until then no OpenTelemetry code runs.
pub fn init_logging(format: LogFormat, default_filter: &str) {
    use std::io::IsTerminal;
    use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};
    use tracing_subscriber::util::SubscriberInitExt as _;

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // Colour only on a terminal: escape codes in files and log pipelines are noise.
    let ansi = std::io::stderr().is_terminal();
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    // The log filter is per layer: `RUST_LOG=warn` quiets logs, not exported spans.
    let subscriber = tracing_subscriber::registry().with(self::tracing::export_layer());
    // A second init (tests) is harmless: keep whichever subscriber came first.
    let _ = match format {
        LogFormat::Text => subscriber.with(logs.with_filter(filter)).try_init(),
        LogFormat::Json => subscriber.with(logs.json().flatten_event(true).with_filter(filter)).try_init(),
    };
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckLabels {
    decision: &'static str,
    reason: &'static str,
    provider: SharedLabel,
    rule: SharedLabel,
}

/// A label value shared with the compiled policy: recording a Check bumps a
/// reference count instead of copying the provider and rule names.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct SharedLabel(Option<std::sync::Arc<str>>);

impl prometheus_client::encoding::EncodeLabelValue for SharedLabel {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder,
    ) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        encoder.write_str(self.0.as_deref().unwrap_or(""))
    }
}

/// The Check path's metrics.
pub struct Metrics {
    checks: Family<CheckLabels, Counter>,
    duration: Histogram,
}

impl Metrics {
    /// Registers the Check metrics under the `gatehouse` prefix of `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let checks = Family::<CheckLabels, Counter>::default();
        registry.register("gatehouse_check_requests", "Check decisions by outcome", checks.clone());
        // 10µs doubling to ~0.33s: a cache hit sits in the first buckets.
        let duration = Histogram::new(exponential_buckets(0.000_01, 2.0, 16));
        registry.register(
            "gatehouse_check_duration_seconds",
            "Server-side time to decide one Check",
            duration.clone(),
        );
        Self { checks, duration }
    }

    pub fn record_check(&self, decision: &Decision, elapsed: Duration) {
        let labels = match decision {
            Decision::Allow(allow) => CheckLabels {
                decision: "allow",
                reason: "",
                provider: SharedLabel(allow.provider.clone()),
                rule: SharedLabel(Some(allow.rule.clone())),
            },
            Decision::Deny(deny) => CheckLabels {
                decision: "deny",
                reason: deny.reason.as_str(),
                provider: SharedLabel(deny.provider.clone()),
                rule: SharedLabel(deny.rule.clone()),
            },
        };
        self.checks.get_or_create(&labels).inc();
        self.duration.observe(elapsed.as_secs_f64());
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FetchLabels {
    provider: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: String,
}

/// Key source metrics: fetch outcomes, keys loaded, time of the last good load.
#[derive(Default)]
pub struct KeyMetrics {
    fetches: Family<FetchLabels, Counter>,
    keys: Family<ProviderLabels, Gauge>,
    last_success: Family<ProviderLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
}

impl KeyMetrics {
    pub fn register(registry: &mut Registry) -> Self {
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
    pub fn fetched(&self, provider: &str, outcome: &'static str) {
        self.fetches.get_or_create(&FetchLabels { provider: provider.to_owned(), outcome }).inc();
    }

    /// Records a successful load of `count` usable keys.
    pub fn loaded(&self, provider: &str, count: usize) {
        let labels = ProviderLabels { provider: provider.to_owned() };
        self.keys.get_or_create(&labels).set(i64::try_from(count).unwrap_or(i64::MAX));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.last_success.get_or_create(&labels).set(now);
    }
}

/// One line per decision: at `info` when `decision_log: true`, else at
/// `debug`. Never the token or claims; the subject only as a hash.
pub fn log_decision(decision: &Decision, request_id: &str, at_info: bool) {
    if at_info {
        decision_event!(::tracing::Level::INFO, decision, request_id);
    } else {
        decision_event!(::tracing::Level::DEBUG, decision, request_id);
    }
}

/// `tracing::event!` needs its level as a constant, hence a macro per level.
macro_rules! decision_event {
    ($level:expr, $decision:expr, $request_id:expr) => {
        match $decision {
            Decision::Allow(allow) => ::tracing::event!(
                $level,
                request_id = $request_id,
                decision = "allow",
                rule = &*allow.rule,
                provider = allow.provider.as_deref().unwrap_or(""),
                sub_hash = allow
                    .token
                    .as_ref()
                    .and_then(|t| t.claims.get("sub"))
                    .and_then(|s| s.as_str())
                    .map(hash_for_log),
                "check"
            ),
            Decision::Deny(deny) => ::tracing::event!(
                $level,
                request_id = $request_id,
                decision = "deny",
                reason = deny.reason.as_str(),
                rule = deny.rule.as_deref().unwrap_or(""),
                provider = deny.provider.as_deref().unwrap_or(""),
                "check"
            ),
        }
    };
}
use decision_event;

/// A short SHA-256 prefix: correlates log lines without revealing the value.
pub fn hash_for_log(value: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(value.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}
