//! Tracing: the Check span, W3C trace context from the Check's request
//! headers, and OpenTelemetry export over OTLP/gRPC.
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
//! The `check` span exists either way (when logging enables it) and carries
//! `trace_id` from an incoming `traceparent`, so logs correlate with the
//! caller's trace even when nothing is exported.
//!
//! Span fields never carry the token, claims or the path's query.

use std::borrow::Cow;
use std::sync::OnceLock;
use std::time::SystemTime;

use anyhow::Context as _;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{
    SpanBuilder, SpanContext, Status, TraceContextExt, TraceId, Tracer, TracerProvider as _,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing::field::Empty;
use tracing::subscriber::Interest;
use tracing::{Level, Metadata, Span};
use tracing_opentelemetry::{OpenTelemetryLayer, OpenTelemetrySpanExt};
use tracing_subscriber::filter::{Filtered, LevelFilter};
use tracing_subscriber::layer::{Context, Filter, Layer};
use tracing_subscriber::Registry;

use crate::authz::Decision;
use crate::config::TelemetryConfig;
use crate::server::proto::envoy::service::auth::v3::{attribute_context, CheckRequest};

/// `service.name` when `telemetry.service_name` (and `OTEL_SERVICE_NAME`) is unset.
pub const DEFAULT_SERVICE_NAME: &str = "gatehouse";

/// Where [`start_export`] puts the SDK tracer; empty while nothing is exported.
type Slot = &'static OnceLock<SdkTracer>;

/// The process-wide slot, read by the subscriber [`super::init_logging`] installs.
static EXPORT: OnceLock<SdkTracer> = OnceLock::new();

/// The OpenTelemetry layer of the global subscriber, with its filter.
pub(crate) fn export_layer() -> ExportLayer {
    export_layer_for(&EXPORT)
}

/// The `tracing-opentelemetry` layer over the tracer in the slot, behind
/// the filter that keeps it idle while the slot is empty.
pub(crate) type ExportLayer = Filtered<OpenTelemetryLayer<Registry, SlotTracer>, ExportFilter, Registry>;

fn export_layer_for(slot: Slot) -> ExportLayer {
    // Thread ids and names mean nothing on a work-stealing runtime.
    tracing_opentelemetry::layer()
        .with_tracer(SlotTracer { slot })
        .with_threads(false)
        .with_filter(ExportFilter { slot })
}

/// Lets a span through to the OpenTelemetry layer only while export is on:
/// spans of gatehouse's own code at `info` or above. Log events stay out of
/// exported traces, and so does the exporter's own transport (no feedback).
pub struct ExportFilter {
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
fn fill(slot: Slot, tracer: SdkTracer) -> Result<(), SdkTracer> {
    slot.set(tracer)?;
    tracing::callsite::rebuild_interest_cache();
    Ok(())
}

/// The tracer in the slot. [`ExportFilter`] keeps the layer from asking for
/// spans while the slot is empty; if it did, it would get inert ones.
pub struct SlotTracer {
    slot: Slot,
}

impl Tracer for SlotTracer {
    type Span = SlotSpan;

    fn build_with_context(&self, builder: SpanBuilder, parent_cx: &opentelemetry::Context) -> SlotSpan {
        SlotSpan(self.slot.get().map(|tracer| tracer.build_with_context(builder, parent_cx)))
    }
}

/// An SDK span, or nothing.
pub struct SlotSpan(Option<opentelemetry_sdk::trace::Span>);

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
pub struct TracerGuard {
    provider: SdkTracerProvider,
}

impl TracerGuard {
    /// Flushes queued spans and stops the exporter. Call it outside async
    /// code, while the runtime that started the export is still alive.
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(%error, "trace exporter shutdown");
        }
    }
}

/// True once [`start_export`] has started exporting spans.
pub fn exporting() -> bool {
    EXPORT.get().is_some()
}

/// Starts exporting spans over OTLP/gRPC when `telemetry.otlp_endpoint` is
/// set; does nothing (and returns `None`) when it is not. Must run inside the
/// tokio runtime that serves: the gRPC channel and the batch span processor
/// run on it.
pub fn start_export(config: &TelemetryConfig) -> anyhow::Result<Option<TracerGuard>> {
    let Some(endpoint) = config.otlp_endpoint.as_deref() else {
        return Ok(None);
    };
    let service_name = config
        .service_name
        .clone()
        .or_else(|| std::env::var("OTEL_SERVICE_NAME").ok().filter(|name| !name.is_empty()))
        .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned());
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .context("telemetry.otlp_endpoint: building the OTLP exporter")?;
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

fn provider_builder(service_name: &str) -> opentelemetry_sdk::trace::TracerProviderBuilder {
    let resource = Resource::builder()
        .with_service_name(service_name.to_owned())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    SdkTracerProvider::builder().with_resource(resource)
}

fn sdk_tracer(provider: &SdkTracerProvider) -> SdkTracer {
    let scope = InstrumentationScope::builder(env!("CARGO_CRATE_NAME"))
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    provider.tracer_with_scope(scope)
}

/// Looks up trace context headers in a CheckRequest, lazily: first the
/// merged `headers` map (lowercase keys), then `header_map` (one entry per
/// value, `raw_value` bytes when Envoy sets `encode_raw_headers`). Nothing is
/// copied or collected per request.
pub struct CheckHeaders<'a> {
    http: Option<&'a attribute_context::HttpRequest>,
}

impl<'a> CheckHeaders<'a> {
    pub fn new(check: &'a CheckRequest) -> Self {
        Self {
            http: check.attributes.as_ref().and_then(|a| a.request.as_ref()).and_then(|r| r.http.as_ref()),
        }
    }

    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        let http = self.http?;
        if let Some(value) = http.headers.get(name) {
            return Some(value);
        }
        let entry = http.header_map.as_ref()?.headers.iter().find(|h| h.key.eq_ignore_ascii_case(name))?;
        if entry.raw_value.is_empty() {
            Some(&entry.value)
        } else {
            std::str::from_utf8(&entry.raw_value).ok()
        }
    }
}

impl Extractor for CheckHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.header(key)
    }

    // Only `get` is used by the W3C propagator; listing keys is not on the hot path.
    fn keys(&self) -> Vec<&str> {
        let Some(http) = self.http else { return Vec::new() };
        let raw = http.header_map.iter().flat_map(|map| map.headers.iter()).map(|h| h.key.as_str());
        http.headers.keys().map(String::as_str).chain(raw).collect()
    }
}

/// The `check` span's fields, at the level of the given span macro
/// (a span's level is part of its static callsite).
macro_rules! check_span_at {
    ($span:ident) => {
        tracing::$span!(
            "check",
            otel.kind = "server",
            request_id = Empty,
            method = Empty,
            trace_id = Empty,
            decision = Empty,
            reason = Empty,
            rule = Empty,
        )
    };
}

/// The `check` span for one CheckRequest, with the request id and method,
/// parented on the request's W3C `traceparent`/`tracestate` when exporting.
/// `decision`, `reason` and `rule` are filled in by [`record_decision`].
///
/// `at_info`: while spans are exported ([`exporting`]) or `decision_log` puts
/// the decision line at `info` (the line then carries the span's
/// `trace_id`). Otherwise the span is at `debug`, so that with the default
/// `info` filter a Check pays nothing for a span no one would see.
pub fn check_span(check: &CheckRequest, at_info: bool) -> Span {
    let headers = CheckHeaders::new(check);
    let span = if at_info { check_span_at!(info_span) } else { check_span_at!(debug_span) };
    if span.is_disabled() {
        return span;
    }
    let request_id = headers.header("x-request-id").or(headers.http.map(|h| h.id.as_str()));
    if let Some(id) = request_id.filter(|id| !id.is_empty()) {
        span.record("request_id", id);
    }
    if let Some(http) = headers.http {
        span.record("method", http.method.as_str());
    }
    let parent = TraceContextPropagator::new().extract(&headers);
    let parent_trace = parent.span().span_context().trace_id();
    // While export is off the span has no OpenTelemetry data and both calls
    // do nothing; the caller's trace id is still recorded for the logs. When
    // exported, a span without a valid parent is a new root with its own id.
    let _ = span.set_parent(parent);
    let trace_id = match span.context().span().span_context().trace_id() {
        TraceId::INVALID => parent_trace,
        exported => exported,
    };
    if trace_id != TraceId::INVALID {
        span.record("trace_id", tracing::field::display(trace_id));
    }
    span
}

/// Records the outcome on the `check` span: never the token or claims.
pub fn record_decision(span: &Span, decision: &Decision) {
    span.record("decision", decision.kind());
    match decision {
        Decision::Allow(allow) => {
            span.record("rule", &*allow.rule);
        }
        Decision::Deny(deny) => {
            span.record("reason", deny.reason.as_str());
            if let Some(rule) = deny.rule.as_deref() {
                span.record("rule", rule);
            }
        }
    }
}

#[cfg(test)]
#[path = "tracing_tests.rs"]
mod tests;
