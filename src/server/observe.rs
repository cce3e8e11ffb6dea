//! What one Check leaves behind: its metrics, its decision log line and its
//! `check` span. Labels come from closed sets (decision, deny reason) or from
//! the configuration (provider and rule names); nothing carries the token,
//! claims or the path's query, and the subject only as a short hash.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TraceId};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tracing::field::Empty;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::wire;
use crate::authz::{CacheOutcome, Decision};
use crate::proto::envoy::service::auth::v3::{attribute_context, CheckRequest};

/// The front door a Check came in by: Envoy's gRPC ext_authz, or one of the
/// HTTP check listener's fixed paths. A label of the metrics and the
/// decision log.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub(crate) enum FrontDoor {
    Grpc,
    EnvoyHttp,
    Nginx,
    Traefik,
}

impl FrontDoor {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            FrontDoor::Grpc => "grpc",
            FrontDoor::EnvoyHttp => "envoy_http",
            FrontDoor::Nginx => "nginx",
            FrontDoor::Traefik => "traefik",
        }
    }
}

impl EncodeLabelValue for FrontDoor {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        encoder.write_str(self.as_str())
    }
}

/// What the metrics, the log line and the span read of an incoming Check
/// besides its decision.
pub(crate) struct CheckContext<'a> {
    pub(crate) door: FrontDoor,
    /// `x-request-id` (for gRPC, else Envoy's own request id); may be empty.
    pub(crate) request_id: &'a str,
    pub(crate) method: &'a str,
    /// The request's headers, for its W3C trace context.
    pub(crate) trace: &'a (dyn Extractor + Sync),
}

impl<'a> CheckContext<'a> {
    /// The context of a gRPC Check; `trace` is [`TraceHeaders::of`] it.
    pub(crate) fn grpc(check: &'a CheckRequest, trace: &'a TraceHeaders<'a>) -> Self {
        let http = wire::http_attributes(check);
        Self {
            door: FrontDoor::Grpc,
            request_id: http.map_or("", request_id),
            method: http.map_or("", |h| h.method.as_str()),
            trace,
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckLabels {
    mode: FrontDoor,
    decision: &'static str,
    reason: &'static str,
    provider: SharedLabel,
    rule: SharedLabel,
}

/// A label value shared with the compiled policy: recording a Check bumps a
/// reference count instead of copying the provider and rule names.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct SharedLabel(Option<Arc<str>>);

impl EncodeLabelValue for SharedLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        encoder.write_str(self.0.as_deref().unwrap_or(""))
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    decision: &'static str,
    cache: &'static str,
}

/// 10µs doubling to ~0.33s: a cache hit sits in the first buckets.
fn check_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_01, 2.0, 16))
}

/// `gatehouse_check_requests_total` and `gatehouse_check_duration_seconds`.
pub(crate) struct CheckMetrics {
    checks: Family<CheckLabels, Counter>,
    /// By decision (allow, deny) and `CacheOutcome`, every series made up
    /// front: recording a duration is an index, not a label lookup.
    durations: [[Histogram; 3]; 2],
}

impl CheckMetrics {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let checks = Family::<CheckLabels, Counter>::default();
        registry.register("gatehouse_check_requests", "Check decisions by outcome", checks.clone());
        let family =
            Family::<DurationLabels, Histogram, fn() -> Histogram>::new_with_constructor(check_histogram);
        registry.register(
            "gatehouse_check_duration_seconds",
            "Server-side time to decide one Check, by decision and token-cache outcome",
            family.clone(),
        );
        let series = |decision: &'static str| {
            CacheOutcome::ALL.map(|cache| {
                family.get_or_create(&DurationLabels { decision, cache: cache.as_str() }).clone()
            })
        };
        Self { checks, durations: [series("allow"), series("deny")] }
    }

    pub(crate) fn record(&self, door: FrontDoor, decision: &Decision, elapsed: Duration) {
        let labels = match decision {
            Decision::Allow(allow) => CheckLabels {
                mode: door,
                decision: "allow",
                reason: "",
                provider: SharedLabel(allow.provider.clone()),
                rule: SharedLabel(Some(allow.rule.clone())),
            },
            Decision::Deny(deny) => CheckLabels {
                mode: door,
                decision: "deny",
                reason: deny.reason.as_str(),
                provider: SharedLabel(deny.provider.clone()),
                rule: SharedLabel(deny.rule.clone()),
            },
        };
        self.checks.get_or_create(&labels).inc();
        let decision_index = usize::from(matches!(decision, Decision::Deny(_)));
        self.durations[decision_index][decision.cache().index()].observe(elapsed.as_secs_f64());
    }
}

/// The request id for logs: Envoy's `x-request-id`, else its own `id`.
fn request_id(http: &attribute_context::HttpRequest) -> &str {
    wire::header(http, "x-request-id").unwrap_or(&http.id)
}

/// One line per decision: at `info` when `decision_log: true`, else at
/// `debug`. Never the token or claims; the subject only as a short hash.
pub(crate) fn log_decision(decision: &Decision, context: &CheckContext<'_>, at_info: bool) {
    let (request_id, mode) = (context.request_id, context.door.as_str());
    if at_info {
        decision_event!(tracing::Level::INFO, decision, request_id, mode);
    } else {
        decision_event!(tracing::Level::DEBUG, decision, request_id, mode);
    }
}

/// `tracing::event!` needs its level as a constant, hence a macro per level.
macro_rules! decision_event {
    ($level:expr, $decision:expr, $request_id:expr, $mode:expr) => {
        match $decision {
            Decision::Allow(allow) => tracing::event!(
                $level,
                request_id = $request_id,
                mode = $mode,
                decision = "allow",
                rule = &*allow.rule,
                provider = allow.provider.as_deref().unwrap_or(""),
                sub_hash = allow
                    .token
                    .as_ref()
                    .and_then(|t| t.claims.get("sub"))
                    .and_then(|s| s.as_str())
                    .map(crate::redact::short_hash),
                "check"
            ),
            Decision::Deny(deny) => tracing::event!(
                $level,
                request_id = $request_id,
                mode = $mode,
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

/// The W3C trace context headers of a CheckRequest, for the propagator.
pub(crate) struct TraceHeaders<'a>(Option<&'a attribute_context::HttpRequest>);

impl<'a> TraceHeaders<'a> {
    pub(crate) fn of(check: &'a CheckRequest) -> Self {
        Self(wire::http_attributes(check))
    }
}

impl Extractor for TraceHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        wire::header(self.0?, key)
    }

    // Only `get` is used by the W3C propagator; listing keys is not on the hot path.
    fn keys(&self) -> Vec<&str> {
        let Some(http) = self.0 else { return Vec::new() };
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
            mode = Empty,
            request_id = Empty,
            method = Empty,
            trace_id = Empty,
            decision = Empty,
            reason = Empty,
            rule = Empty,
        )
    };
}

/// The request headers observability reads: the request id for logs, and
/// the W3C trace context a span is parented on.
pub(crate) const OBSERVED_HEADERS: [&str; 3] = ["x-request-id", "traceparent", "tracestate"];

/// The `check` span for one Check, with its front door, request id and
/// method, parented on the request's W3C `traceparent`/`tracestate` when
/// exporting.
/// `decision`, `reason` and `rule` are filled in by [`record_decision`].
///
/// `at_info`: while spans are exported or `decision_log` puts the decision
/// line at `info` (the line then carries the span's `trace_id`). Otherwise
/// the span is at `debug`, so that with the default `info` filter a Check
/// pays nothing for a span no one would see.
pub(crate) fn check_span(context: &CheckContext<'_>, at_info: bool) -> Span {
    let span = if at_info { check_span_at!(info_span) } else { check_span_at!(debug_span) };
    if span.is_disabled() {
        return span;
    }
    span.record("mode", context.door.as_str());
    if !context.request_id.is_empty() {
        span.record("request_id", context.request_id);
    }
    if !context.method.is_empty() {
        span.record("method", context.method);
    }
    let parent = TraceContextPropagator::new().extract(context.trace);
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
pub(crate) fn record_decision(span: &Span, decision: &Decision) {
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
mod tests;
