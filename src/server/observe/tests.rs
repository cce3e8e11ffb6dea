// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
use std::collections::HashMap;

use opentelemetry::trace::{SpanId, TraceFlags};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::SubscriberExt as _;

use std::sync::OnceLock;

use tracing::Level;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::Registry;

use super::*;
use crate::authz::DenyReason;
use crate::dev::CheckRequestBuilder;
use crate::telemetry::{
    export_layer, export_layer_for, fill, provider_builder, sdk_tracer, start_export, ExportSettings, Slot,
};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

fn traceparent() -> String {
    format!("00-{TRACE_ID}-{PARENT_ID}-01")
}

fn with_map(headers: &[(&str, &str)]) -> CheckRequest {
    CheckRequestBuilder::new("GET", "/orders?token=secret").id("envoy-id").headers(headers).build()
}

fn with_raw(headers: &[(&str, &str)]) -> CheckRequest {
    let builder = CheckRequestBuilder::new("POST", "/");
    headers.iter().fold(builder, |b, (name, value)| b.raw_header(name, value.as_bytes())).build()
}

fn trace_headers(check: &CheckRequest) -> TraceHeaders<'_> {
    TraceHeaders::of(check)
}

/// The `check` span of a gRPC Check.
fn span_of(check: &CheckRequest, at_info: bool) -> Span {
    let trace = TraceHeaders::of(check);
    check_span(&CheckContext::grpc(check, &trace), at_info)
}

#[test]
fn extractor_reads_the_headers_map() {
    let check = with_map(&[("traceparent", &traceparent()), ("tracestate", "a=b")]);
    let headers = trace_headers(&check);
    assert_eq!(headers.get("traceparent"), Some(traceparent().as_str()));
    assert_eq!(headers.get("tracestate"), Some("a=b"));
    assert_eq!(headers.get("x-missing"), None);
}

#[test]
fn extractor_reads_raw_header_map() {
    let check = with_raw(&[("Traceparent", &traceparent()), ("tracestate", "a=b")]);
    let headers = trace_headers(&check);
    assert_eq!(headers.get("traceparent"), Some(traceparent().as_str()));
    assert_eq!(headers.get("tracestate"), Some("a=b"));
    let mut keys = headers.keys();
    keys.sort_unstable();
    assert_eq!(keys, ["Traceparent", "tracestate"]);
}

#[test]
fn extractor_tolerates_missing_attributes() {
    let check = CheckRequest { attributes: None };
    assert_eq!(trace_headers(&check).get("traceparent"), None);
    assert!(trace_headers(&check).keys().is_empty());
}

#[test]
fn propagator_parses_both_header_shapes() {
    for check in [with_map(&[("traceparent", &traceparent())]), with_raw(&[("traceparent", &traceparent())])]
    {
        let cx = TraceContextPropagator::new().extract(&trace_headers(&check));
        let parent = cx.span().span_context().clone();
        assert!(parent.is_remote());
        assert_eq!(parent.trace_id(), TraceId::from_hex(TRACE_ID).unwrap());
        assert_eq!(parent.span_id(), SpanId::from_hex(PARENT_ID).unwrap());
        assert_eq!(parent.trace_flags(), TraceFlags::SAMPLED);
    }
}

/// Runs `f` under a subscriber made of the real [`ExportLayer`] and its
/// filter, with export started into an in-memory exporter when `export`.
fn spans_of(export: bool, f: impl FnOnce()) -> Vec<SpanData> {
    let exporter = InMemorySpanExporter::default();
    let provider = provider_builder("test").with_simple_exporter(exporter.clone()).build();
    let slot: Slot = Box::leak(Box::new(OnceLock::new()));
    if export {
        assert!(fill(slot, sdk_tracer(&provider)).is_ok());
    }
    let subscriber = Registry::default().with(export_layer_for(slot));
    tracing::subscriber::with_default(subscriber, f);
    provider.force_flush().unwrap();
    exporter.get_finished_spans().unwrap()
}

/// As with `decision_log: true` (or export on): the span is at `info`.
fn run_check(check: &CheckRequest, decision: &Decision) {
    let span = span_of(check, true);
    let _entered = span.enter();
    record_decision(&span, decision);
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a opentelemetry::Value> {
    span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| &kv.value)
}

#[test]
fn check_span_is_a_child_of_the_incoming_traceparent() {
    let check = with_map(&[("traceparent", &traceparent()), ("x-request-id", "req-1")]);
    let spans = spans_of(true, || run_check(&check, &Decision::deny(DenyReason::MissingToken)));
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(span.name, "check");
    assert_eq!(span.span_kind, opentelemetry::trace::SpanKind::Server);
    assert_eq!(span.span_context.trace_id(), TraceId::from_hex(TRACE_ID).unwrap());
    assert_eq!(span.parent_span_id, SpanId::from_hex(PARENT_ID).unwrap());
    assert!(span.parent_span_is_remote);
    assert_ne!(span.span_context.span_id(), SpanId::from_hex(PARENT_ID).unwrap());
    assert_eq!(attribute(span, "request_id").map(|v| v.as_str().into_owned()).as_deref(), Some("req-1"));
    assert_eq!(attribute(span, "method").map(|v| v.as_str().into_owned()).as_deref(), Some("GET"));
    assert_eq!(attribute(span, "trace_id").map(|v| v.as_str().into_owned()).as_deref(), Some(TRACE_ID));
    assert_eq!(attribute(span, "decision").map(|v| v.as_str().into_owned()).as_deref(), Some("deny"));
    assert_eq!(
        attribute(span, "reason").map(|v| v.as_str().into_owned()).as_deref(),
        Some(DenyReason::MissingToken.as_str())
    );
    // Nothing from the path's query, no token.
    for kv in &span.attributes {
        assert!(!kv.value.as_str().contains("secret"), "{kv:?}");
    }
}

#[test]
fn check_span_follows_traceparent_from_raw_headers() {
    let check = with_raw(&[("traceparent", &traceparent())]);
    let spans = spans_of(true, || run_check(&check, &Decision::deny(DenyReason::MissingToken)));
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].span_context.trace_id(), TraceId::from_hex(TRACE_ID).unwrap());
    assert_eq!(spans[0].parent_span_id, SpanId::from_hex(PARENT_ID).unwrap());
    assert_eq!(attribute(&spans[0], "method").map(|v| v.as_str().into_owned()).as_deref(), Some("POST"));
}

#[test]
fn check_span_without_traceparent_is_a_new_root() {
    let check = with_map(&[]);
    let spans = spans_of(true, || run_check(&check, &Decision::deny(DenyReason::MissingToken)));
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(span.parent_span_id, SpanId::INVALID);
    assert!(span.span_context.is_valid());
    assert_ne!(span.span_context.trace_id(), TraceId::from_hex(TRACE_ID).unwrap());
    // The logs get the new root's trace id, to find the trace from a log line.
    let logged = attribute(span, "trace_id").map(|v| v.as_str().into_owned());
    assert_eq!(logged, Some(span.span_context.trace_id().to_string()));
    assert_eq!(attribute(span, "request_id").map(|v| v.as_str().into_owned()).as_deref(), Some("envoy-id"));
}

#[test]
fn an_invalid_traceparent_starts_a_new_root() {
    let check = with_map(&[("traceparent", "00-not-a-trace-01")]);
    let spans = spans_of(true, || run_check(&check, &Decision::deny(DenyReason::MissingToken)));
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].parent_span_id, SpanId::INVALID);
}

#[test]
fn nothing_is_exported_before_export_starts() {
    let check = with_map(&[("traceparent", &traceparent())]);
    let spans = spans_of(false, || run_check(&check, &Decision::deny(DenyReason::MissingToken)));
    assert!(spans.is_empty());
}

#[test]
fn without_export_the_logged_span_carries_the_callers_trace_id() {
    use std::sync::{Arc, Mutex};
    // A stand-in for the log layer: records the check span's fields.
    #[derive(Clone, Default)]
    struct Fields(Arc<Mutex<HashMap<String, String>>>);
    impl tracing::field::Visit for Fields {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            self.0.lock().unwrap().insert(field.name().to_owned(), format!("{value:?}"));
        }
        fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
            self.0.lock().unwrap().insert(field.name().to_owned(), value.to_owned());
        }
    }
    impl<S: tracing::Subscriber> Layer<S> for Fields {
        fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
            attrs.record(&mut self.clone());
        }
        fn on_record(&self, _: &Id, values: &Record<'_>, _: Context<'_, S>) {
            values.record(&mut self.clone());
        }
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            event.record(&mut self.clone());
        }
    }
    let fields = Fields::default();
    let slot: Slot = Box::leak(Box::new(OnceLock::new()));
    let subscriber = Registry::default().with(export_layer_for(slot)).with(fields.clone());
    let check = with_map(&[("traceparent", &traceparent())]);
    let dispatch = tracing::Dispatch::new(subscriber);
    tracing::dispatcher::with_default(&dispatch, || {
        run_check(&check, &Decision::deny(DenyReason::MissingToken))
    });
    {
        let fields = fields.0.lock().unwrap();
        assert_eq!(fields.get("trace_id").map(String::as_str), Some(TRACE_ID));
        assert_eq!(fields.get("decision").map(String::as_str), Some("deny"));
        assert_eq!(fields.get("method").map(String::as_str), Some("GET"));
        assert_eq!(fields.get("mode").map(String::as_str), Some("grpc"), "the span names its front door");
    }
    // The decision log line names the front door too.
    let trace = TraceHeaders::of(&check);
    let context = CheckContext { door: FrontDoor::Nginx, ..CheckContext::grpc(&check, &trace) };
    tracing::dispatcher::with_default(&dispatch, || {
        log_decision(&Decision::deny(DenyReason::MissingToken), &context, true)
    });
    let fields = fields.0.lock().unwrap();
    assert_eq!(fields.get("mode").map(String::as_str), Some("nginx"));
    assert_eq!(fields.get("reason").map(String::as_str), Some("missing_token"));
}

#[test]
fn without_export_or_decision_log_the_span_is_debug_only() {
    let check = with_map(&[("traceparent", &traceparent())]);
    let level = |at_info: bool| {
        let subscriber =
            Registry::default().with(tracing_subscriber::fmt::layer().with_filter(LevelFilter::TRACE));
        tracing::subscriber::with_default(subscriber, || {
            span_of(&check, at_info).metadata().map(|m| *m.level())
        })
    };
    // Under the default `info` filter a debug span is never created.
    assert_eq!(level(false), Some(Level::DEBUG));
    assert_eq!(level(true), Some(Level::INFO));
}

/// A collector on loopback that hands every export request to the test.
struct Collector(tokio::sync::mpsc::UnboundedSender<ExportTraceServiceRequest>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let _ = self.0.send(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// The whole export path: the process-wide slot, the OTLP/gRPC exporter
/// on tonic, the batch processor on tokio, and shutdown flushing it.
/// (The only test that starts the process-wide export.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_the_check_span_over_otlp_grpc() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Collector(tx)))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );

    assert!(start_export(None).unwrap().is_none(), "no endpoint, no exporter");
    let settings = ExportSettings {
        endpoint: format!("http://{addr}"),
        service_name: Some("gatehouse-test".to_owned()),
    };
    let tracer = start_export(Some(&settings)).unwrap().expect("an endpoint starts the exporter");
    {
        let _default = tracing::subscriber::set_default(Registry::default().with(export_layer()));
        let check = with_map(&[("traceparent", &traceparent()), ("authorization", "Bearer secret")]);
        run_check(&check, &Decision::deny(DenyReason::MissingToken));
    }
    tokio::task::spawn_blocking(move || tracer.shutdown()).await.unwrap();

    let request = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
        .await
        .expect("the collector got an export")
        .unwrap();
    let resource_spans = &request.resource_spans[0];
    let service = resource_spans
        .resource
        .as_ref()
        .unwrap()
        .attributes
        .iter()
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.clone());
    assert_eq!(
        service,
        Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(
            "gatehouse-test".to_owned()
        ))
    );
    let span = &resource_spans.scope_spans[0].spans[0];
    assert_eq!(span.name, "check");
    assert_eq!(span.trace_id, TraceId::from_hex(TRACE_ID).unwrap().to_bytes());
    assert_eq!(span.parent_span_id, SpanId::from_hex(PARENT_ID).unwrap().to_bytes());
    assert!(!format!("{request:?}").contains("secret"));
}
