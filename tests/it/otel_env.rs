//! The standard OpenTelemetry environment variables: with no `telemetry`
//! section, `OTEL_EXPORTER_OTLP_ENDPOINT` turns span export on,
//! `OTEL_SERVICE_NAME` names the service and `OTEL_RESOURCE_ATTRIBUTES`
//! adds resource attributes. The built binary exports to a collector the
//! test runs.

use std::time::Duration;

use gatehouse_testkit::process::{free_addr, gatehouse_command, Served};
use gatehouse_testkit::*;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;

/// Hands every export request to the test.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otel_environment_variables_configure_span_export() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector = listener.local_addr().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Collector(tx)))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let key = es256_key("k1");
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http) = (free_addr(), free_addr());
    let yaml = format!(
        "server: {{ grpc_addr: \"{grpc}\", http_addr: \"{http}\", drain_timeout: 1s }}\n{}",
        CorpConfig::new(format!("inline: '{}'", inline_jwks(&[&key]))).yaml()
    );
    let path = dir.path().join("gatehouse.yaml");
    std::fs::write(&path, yaml).unwrap();
    let mut command = gatehouse_command(&["serve", "--config", path.to_str().unwrap()]);
    command
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}"))
        .env("OTEL_SERVICE_NAME", "orders-authz")
        .env("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=staging,team=platform");
    let mut served = Served::spawn_command(dir.path(), command);
    served.wait_ready(http, Duration::from_secs(10)).await;
    let mut checker = Checker::connect(grpc).await;
    checker.check(request("GET", "/api/orders", &[("authorization", &bearer(&token(&key)))])).await;
    drop(checker);
    // SIGTERM flushes the batch of spans on the way out.
    served.signal("TERM");
    served.wait_exit(Duration::from_secs(10)).await;

    let export = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("an export").unwrap();
    let resource = export.resource_spans[0].resource.as_ref().unwrap();
    let attribute = |key: &str| {
        resource.attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.clone()?.value)
    };
    assert_eq!(attribute("service.name"), Some(AnyValue::StringValue("orders-authz".into())));
    assert_eq!(attribute("deployment.environment"), Some(AnyValue::StringValue("staging".into())));
    assert_eq!(attribute("team"), Some(AnyValue::StringValue("platform".into())));
    assert_eq!(export.resource_spans[0].scope_spans[0].spans[0].name, "check");
}
