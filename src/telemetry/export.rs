//! Span export over OTLP/gRPC (OpenTelemetry), off until the config asks.
//!
//! Logging is installed once, at start-up, before the configuration is read
//! ([`super::init_logging`]). Its subscriber always carries a
//! `tracing-opentelemetry` layer, behind a filter that turns every span away
//! until `serve` has read a config with `telemetry.otlp_endpoint` and called
//! [`start_export`]. That fills a slot with the SDK tracer (an OTLP exporter
//! behind a batch span processor on the tokio runtime) and opens the filter.
//! Until then no OpenTelemetry code runs per span, and no exporter, channel
//! or task exists.
//!
//! (`tracing_subscriber::reload` cannot be used to add the layer later: it
//! does not forward `downcast_raw`, which `OpenTelemetrySpanExt::set_parent`
//! needs to reach the OpenTelemetry layer, and forwarding it by hand takes
//! `unsafe`, which this crate forbids.)
//!
//! Which spans exist and what they carry is decided where they are made (the
//! Check span: `server`); this module only exports them.

use std::borrow::Cow;
use std::sync::OnceLock;
use std::time::SystemTime;

use opentelemetry::trace::{SpanBuilder, SpanContext, Status, Tracer, TracerProvider as _};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing::subscriber::Interest;
use tracing::{Level, Metadata};
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::filter::{Filtered, LevelFilter};
use tracing_subscriber::layer::{Context, Filter, Layer};
use tracing_subscriber::Registry;

/// `service.name` when `telemetry.service_name` (and `OTEL_SERVICE_NAME`) is unset.
const DEFAULT_SERVICE_NAME: &str = "gatehouse";

/// Where spans go (`telemetry`), built by `config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExportSettings {
    /// The OTLP/gRPC collector, e.g. `http://otel-collector:4317`.
    pub(crate) endpoint: String,
    /// `service.name`; unset: `OTEL_SERVICE_NAME`, else `gatehouse`.
    pub(crate) service_name: Option<String>,
}

/// The OTLP exporter could not be built from `telemetry.otlp_endpoint`.
#[derive(Debug, thiserror::Error)]
#[error("telemetry.otlp_endpoint: building the OTLP exporter: {0}")]
pub(crate) struct ExportError(#[source] opentelemetry_otlp::ExporterBuildError);

/// Where [`start_export`] puts the SDK tracer; empty while nothing is exported.
pub(crate) type Slot = &'static OnceLock<SdkTracer>;

/// The process-wide slot, read by the subscriber [`super::init_logging`] installs.
static EXPORT: OnceLock<SdkTracer> = OnceLock::new();

/// The OpenTelemetry layer of the global subscriber, with its filter.
pub(crate) fn export_layer() -> ExportLayer {
    export_layer_for(&EXPORT)
}

/// The `tracing-opentelemetry` layer over the tracer in the slot, behind
/// the filter that keeps it idle while the slot is empty.
pub(crate) type ExportLayer = Filtered<OpenTelemetryLayer<Registry, SlotTracer>, ExportFilter, Registry>;

pub(crate) fn export_layer_for(slot: Slot) -> ExportLayer {
    // Thread ids and names mean nothing on a work-stealing runtime.
    tracing_opentelemetry::layer()
        .with_tracer(SlotTracer { slot })
        .with_threads(false)
        .with_filter(ExportFilter { slot })
}

/// Lets a span through to the OpenTelemetry layer only while export is on:
/// spans of gatehouse's own code at `info` or above. Log events stay out of
/// exported traces, and so does the exporter's own transport (no feedback).
pub(crate) struct ExportFilter {
    slot: Slot,
}

impl ExportFilter {
    fn exportable(metadata: &Metadata<'_>) -> bool {
        metadata.is_span()
            && *metadata.level() <= Level::INFO
            && metadata.target().split("::").next() == Some(env!("CARGO_CRATE_NAME"))
    }
}

impl<S> Filter<S> for ExportFilter {
    fn enabled(&self, metadata: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        self.slot.get().is_some() && Self::exportable(metadata)
    }

    // While the slot is empty every callsite is `never` to this filter, so a
    // span nothing logs is not even created. Filling the slot rebuilds the
    // callsite interest cache ([`fill`]).
    fn callsite_enabled(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.slot.get().is_some() && Self::exportable(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(if self.slot.get().is_some() { LevelFilter::INFO } else { LevelFilter::OFF })
    }
}

/// Puts `tracer` in `slot` and makes every callsite ask the filter again.
pub(crate) fn fill(slot: Slot, tracer: SdkTracer) -> Result<(), SdkTracer> {
    slot.set(tracer)?;
    tracing::callsite::rebuild_interest_cache();
    Ok(())
}

/// The tracer in the slot. [`ExportFilter`] keeps the layer from asking for
/// spans while the slot is empty; if it did, it would get inert ones.
pub(crate) struct SlotTracer {
    slot: Slot,
}

impl Tracer for SlotTracer {
    type Span = SlotSpan;

    fn build_with_context(&self, builder: SpanBuilder, parent_cx: &opentelemetry::Context) -> SlotSpan {
        SlotSpan(self.slot.get().map(|tracer| tracer.build_with_context(builder, parent_cx)))
    }
}

/// An SDK span, or nothing.
pub(crate) struct SlotSpan(Option<opentelemetry_sdk::trace::Span>);

static NO_SPAN: SpanContext = SpanContext::NONE;

impl opentelemetry::trace::Span for SlotSpan {
    fn add_event_with_timestamp<T>(&mut self, name: T, timestamp: SystemTime, attributes: Vec<KeyValue>)
    where
        T: Into<Cow<'static, str>>,
    {
        if let Some(span) = &mut self.0 {
            span.add_event_with_timestamp(name, timestamp, attributes);
        }
    }

    fn span_context(&self) -> &SpanContext {
        self.0.as_ref().map_or(&NO_SPAN, |span| span.span_context())
    }

    fn is_recording(&self) -> bool {
        self.0.as_ref().is_some_and(|span| span.is_recording())
    }

    fn set_attribute(&mut self, attribute: KeyValue) {
        if let Some(span) = &mut self.0 {
            span.set_attribute(attribute);
        }
    }

    fn set_status(&mut self, status: Status) {
        if let Some(span) = &mut self.0 {
            span.set_status(status);
        }
    }

    fn update_name<T>(&mut self, new_name: T)
    where
        T: Into<Cow<'static, str>>,
    {
        if let Some(span) = &mut self.0 {
            span.update_name(new_name);
        }
    }

    fn add_link(&mut self, span_context: SpanContext, attributes: Vec<KeyValue>) {
        if let Some(span) = &mut self.0 {
            span.add_link(span_context, attributes);
        }
    }

    fn end_with_timestamp(&mut self, timestamp: SystemTime) {
        if let Some(span) = &mut self.0 {
            span.end_with_timestamp(timestamp);
        }
    }
}

/// A running OTLP exporter. [`TracerGuard::shutdown`] flushes what is queued.
#[must_use = "shut the tracer down on exit, or queued spans are lost"]
pub(crate) struct TracerGuard {
    provider: SdkTracerProvider,
}

impl TracerGuard {
    /// Flushes queued spans and stops the exporter. Call it outside async
    /// code, while the runtime that started the export is still alive.
    pub(crate) fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(%error, "trace exporter shutdown");
        }
    }
}

/// True once [`start_export`] has started exporting spans.
pub(crate) fn exporting() -> bool {
    EXPORT.get().is_some()
}

/// Starts exporting spans over OTLP/gRPC when the config asks for it; does
/// nothing (and returns `None`) when it does not. Must run inside the tokio
/// runtime that serves: the gRPC channel and the batch span processor run on it.
pub(crate) fn start_export(settings: Option<&ExportSettings>) -> Result<Option<TracerGuard>, ExportError> {
    let Some(settings) = settings else {
        return Ok(None);
    };
    let endpoint = settings.endpoint.as_str();
    let service_name = settings
        .service_name
        .clone()
        .or_else(|| std::env::var("OTEL_SERVICE_NAME").ok().filter(|name| !name.is_empty()))
        .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned());
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(ExportError)?;
    let batch = opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
        exporter,
        opentelemetry_sdk::runtime::Tokio,
    )
    .build();
    let provider = provider_builder(&service_name).with_span_processor(batch).build();
    if fill(&EXPORT, sdk_tracer(&provider)).is_err() {
        // Only one export per process: a second call leaves the first running.
        let _ = provider.shutdown();
        tracing::warn!("trace export already started; ignoring a second start");
        return Ok(None);
    }
    tracing::info!(endpoint, service_name, "exporting traces over OTLP/gRPC");
    Ok(Some(TracerGuard { provider }))
}

pub(crate) fn provider_builder(service_name: &str) -> opentelemetry_sdk::trace::TracerProviderBuilder {
    let resource = Resource::builder()
        .with_service_name(service_name.to_owned())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    SdkTracerProvider::builder().with_resource(resource)
}

pub(crate) fn sdk_tracer(provider: &SdkTracerProvider) -> SdkTracer {
    let scope = InstrumentationScope::builder(env!("CARGO_CRATE_NAME"))
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    provider.tracer_with_scope(scope)
}
