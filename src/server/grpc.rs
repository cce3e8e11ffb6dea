//! The ext_authz gRPC service: translates a CheckRequest into an
//! [`HttpRequest`], asks the [`Authorizer`], and translates the [`Decision`]
//! back. No policy lives here.
//!
//! Every decision, deny included, is an `Ok` response: a gRPC error would be
//! an *error* to Envoy, which `failure_mode_allow: true` turns into an allow.

use std::sync::Arc;
use std::time::Instant;

use prost_types::{value::Kind, ListValue, Struct, Value as ProtoValue};
use serde_json::Value;
use tonic::{Request, Response, Status};

use super::proto::envoy::config::core::v3::{HeaderValue, HeaderValueOption};
use super::proto::envoy::r#type::v3::HttpStatus;
use super::proto::envoy::service::auth::v3::{
    attribute_context, authorization_server::Authorization, check_response, CheckRequest, CheckResponse,
    DeniedHttpResponse, OkHttpResponse,
};
use super::proto::google::rpc;
use crate::authz::{Allow, Authorizer, Decision, Deny, DenyReason, HttpRequest};
use crate::telemetry::Metrics;

/// The `envoy.service.auth.v3.Authorization` implementation.
pub struct CheckService {
    authorizer: Arc<Authorizer>,
    metrics: Arc<Metrics>,
    /// Checks in progress; beyond `limits.max_concurrent_checks` a Check is
    /// denied with 503 at once: overload never queues without bound and never
    /// turns into an allow (or into an RPC error Envoy might fail open on).
    permits: Arc<tokio::sync::Semaphore>,
}

impl CheckService {
    pub fn new(authorizer: Arc<Authorizer>, metrics: Arc<Metrics>, max_concurrent_checks: usize) -> Self {
        Self { authorizer, metrics, permits: Arc::new(tokio::sync::Semaphore::new(max_concurrent_checks)) }
    }
}

#[tonic::async_trait]
impl Authorization for CheckService {
    async fn check(&self, request: Request<CheckRequest>) -> Result<Response<CheckResponse>, Status> {
        let started = Instant::now();
        let check = request.into_inner();
        // One policy snapshot for the decision and the settings around it.
        let policy = self.authorizer.policy();
        let decision_log = policy.decision_log;
        // Parented on the request's W3C `traceparent`; ends when the Check returns.
        let span = crate::telemetry::tracing::check_span(
            &check,
            decision_log || crate::telemetry::tracing::exporting(),
        );
        let decide = async {
            let Ok(_permit) = self.permits.try_acquire() else {
                return Decision::deny(DenyReason::Overloaded);
            };
            match http_attributes(&check) {
                Some(http) => self.authorizer.check_on(&policy, &to_http_request(&check, http)).await,
                None => Decision::deny(DenyReason::MalformedRequest),
            }
        };
        let decision = tracing::Instrument::instrument(decide, span.clone()).await;
        span.in_scope(|| {
            crate::telemetry::tracing::record_decision(&span, &decision);
            let headers = crate::telemetry::tracing::CheckHeaders::new(&check);
            let request_id = headers
                .header("x-request-id")
                .or_else(|| http_attributes(&check).map(|h| h.id.as_str()))
                .unwrap_or("");
            crate::telemetry::log_decision(&decision, request_id, decision_log);
        });
        self.metrics.record_check(&decision, started.elapsed());
        Ok(Response::new(to_check_response(&decision)))
    }
}

fn http_attributes(check: &CheckRequest) -> Option<&attribute_context::HttpRequest> {
    check.attributes.as_ref()?.request.as_ref()?.http.as_ref()
}

/// Borrows everything from the CheckRequest. Headers come from the merged
/// `headers` map and from `header_map` (`encode_raw_headers: true`), which
/// carries one entry per value with the raw bytes.
pub fn to_http_request<'a>(
    check: &'a CheckRequest,
    http: &'a attribute_context::HttpRequest,
) -> HttpRequest<'a> {
    let raw = http.header_map.iter().flat_map(|map| map.headers.iter()).map(|h| {
        let value = if h.raw_value.is_empty() { h.value.as_bytes() } else { h.raw_value.as_slice() };
        (h.key.as_str(), value)
    });
    let headers = http.headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())).chain(raw).collect();
    HttpRequest {
        method: &http.method,
        host: &http.host,
        path: &http.path,
        headers,
        context_extensions: check.attributes.as_ref().map(|a| &a.context_extensions),
    }
}

pub fn to_check_response(decision: &Decision) -> CheckResponse {
    match decision {
        Decision::Allow(allow) => allow_response(allow),
        Decision::Deny(deny) => deny_response(deny),
    }
}

/// `append: false` is set explicitly: it overwrites a client-sent copy on
/// every Envoy version (an unset `append` was briefly append-if-exists).
fn overwrite(name: &str, value: String) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue { key: name.to_owned(), value, raw_value: Vec::new() }),
        append: Some(false),
        ..Default::default()
    }
}

fn allow_response(allow: &Allow) -> CheckResponse {
    let ok = OkHttpResponse {
        headers: allow.set_headers.iter().map(|(name, value)| overwrite(name, value.clone())).collect(),
        headers_to_remove: allow.remove_headers.iter().map(|h| h.to_string()).collect(),
        query_parameters_to_remove: allow.remove_query_params.iter().map(|q| q.to_string()).collect(),
        ..Default::default()
    };
    CheckResponse {
        status: Some(rpc::Status { code: 0, ..Default::default() }),
        http_response: Some(check_response::HttpResponse::OkResponse(ok)),
        dynamic_metadata: Some(allow_metadata(allow)),
    }
}

fn deny_response(deny: &Deny) -> CheckResponse {
    let reason = deny.reason;
    let mut headers = vec![overwrite("content-type", "application/json".to_owned())];
    if let Some(challenge) = deny.www_authenticate() {
        headers.push(overwrite("www-authenticate", challenge));
    }
    let denied = DeniedHttpResponse {
        status: Some(HttpStatus { code: i32::from(reason.http_status()) }),
        headers,
        body: reason.body(),
    };
    let mut metadata = Struct::default();
    insert(&mut metadata, "decision", string("deny"));
    insert(&mut metadata, "reason", string(reason.as_str()));
    CheckResponse {
        status: Some(rpc::Status {
            code: reason.grpc_code(),
            message: reason.as_str().to_owned(),
            details: Vec::new(),
        }),
        http_response: Some(check_response::HttpResponse::DeniedResponse(denied)),
        dynamic_metadata: Some(metadata),
    }
}

/// Dynamic metadata for Envoy (namespace `envoy.filters.http.ext_authz`):
/// `decision`, `rule`, `provider`, the claims `dynamic_metadata.claims` names
/// (default `sub`, `iss`, `scope`, `scp`) at the top for RBAC and access logs,
/// and with `dynamic_metadata.all_claims` every verified claim under `claims`.
fn allow_metadata(allow: &Allow) -> Struct {
    let mut metadata = Struct::default();
    insert(&mut metadata, "decision", string("allow"));
    insert(&mut metadata, "rule", string(&allow.rule));
    if let Some(provider) = &allow.provider {
        insert(&mut metadata, "provider", string(provider));
    }
    if let Some(token) = &allow.token {
        for (key, path) in &allow.metadata.claims {
            if let Some(value) = crate::authz::claim_at(&token.claims, path) {
                insert(&mut metadata, key, to_proto_value(value));
            }
        }
        if allow.metadata.all_claims {
            // Converted once per verified token; a cache hit reuses it.
            let claims = token.rendered.get_or_init(|| Struct {
                fields: token.claims.iter().map(|(k, v)| (k.clone(), to_proto_value(v))).collect(),
            });
            insert(&mut metadata, "claims", ProtoValue { kind: Some(Kind::StructValue(claims.clone())) });
        }
    }
    metadata
}

fn insert(target: &mut Struct, key: &str, value: ProtoValue) {
    target.fields.insert(key.to_owned(), value);
}

fn string(text: &str) -> ProtoValue {
    ProtoValue { kind: Some(Kind::StringValue(text.to_owned())) }
}

fn to_proto_value(value: &Value) -> ProtoValue {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(items) => {
            Kind::ListValue(ListValue { values: items.iter().map(to_proto_value).collect() })
        }
        Value::Object(map) => Kind::StructValue(Struct {
            fields: map.iter().map(|(k, v)| (k.clone(), to_proto_value(v))).collect(),
        }),
    };
    ProtoValue { kind: Some(kind) }
}
