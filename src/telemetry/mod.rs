//! Telemetry plumbing that knows nothing of what it carries: the log
//! subscriber, span export over OTLP, and the process metrics. What each
//! layer measures lives beside it (`keys` its fetch metrics, `server` the
//! Check metrics, decision log and span, `reload` its outcomes).

mod export;
pub(crate) mod process;

use tracing_subscriber::EnvFilter;

#[cfg(test)]
pub(crate) use export::{export_layer, export_layer_for, fill, provider_builder, sdk_tracer, Slot};
pub(crate) use export::{exporting, start_export, ExportSettings};

/// Output format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

/// Installs the global tracing subscriber, once, at start-up. `RUST_LOG`
/// overrides `default_filter` (for log lines only). The subscriber also holds
/// the span export slot that [`start_export`] fills when the config sets
/// `telemetry.otlp_endpoint`; until then no OpenTelemetry code runs.
pub(crate) fn init_logging(format: LogFormat, default_filter: &str) {
    use std::io::IsTerminal;
    use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};
    use tracing_subscriber::util::SubscriberInitExt as _;

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // Colour only on a terminal: escape codes in files and log pipelines are noise.
    let ansi = std::io::stderr().is_terminal();
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    // The log filter is per layer: `RUST_LOG=warn` quiets logs, not exported spans.
    let subscriber = tracing_subscriber::registry().with(export::export_layer());
    // A second init (tests) is harmless: keep whichever subscriber came first.
    let _ = match format {
        LogFormat::Text => subscriber.with(logs.with_filter(filter)).try_init(),
        LogFormat::Json => subscriber.with(logs.json().flatten_event(true).with_filter(filter)).try_init(),
    };
}
