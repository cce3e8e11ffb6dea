//! Translation between Envoy's ext_authz messages and the decision core:
//! a CheckRequest into an [`HttpRequest`] (borrowing, not copying), a
//! [`Decision`] into a CheckResponse. No policy lives here.

use prost_types::{value::Kind, ListValue, Struct, Value as ProtoValue};
use serde_json::Value;

use crate::authz::{Allow, Decision, Deny, DenyReason, HttpRequest, VerifiedToken};
use crate::proto::envoy::config::core::v3::{HeaderValue, HeaderValueOption};
use crate::proto::envoy::r#type::v3::HttpStatus;
use crate::proto::envoy::service::auth::v3::{
    attribute_context, check_response, CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse,
};
use crate::proto::google::rpc;

/// The HTTP attributes of a CheckRequest, if Envoy sent any.
pub(crate) fn http_attributes(check: &CheckRequest) -> Option<&attribute_context::HttpRequest> {
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

/// The first value of header `name` (lower-case) in a CheckRequest, looked up
/// lazily: the merged `headers` map first, then `header_map`. Nothing is
/// copied or collected.
pub(crate) fn header<'a>(http: &'a attribute_context::HttpRequest, name: &str) -> Option<&'a str> {
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

/// The answer Envoy gets for a decision, as prost messages: what `explain`
/// prints, and the reference the service's direct encoding of an allow
/// (`answer.rs`) is tested against.
pub fn to_check_response(decision: &Decision) -> CheckResponse {
    match decision {
        Decision::Allow(allow) => allow_response(allow),
        Decision::Deny(deny) => deny_response(deny),
    }
}

/// The google.rpc.Code carried in `CheckResponse.status` for a deny.
pub(crate) const fn grpc_code(reason: DenyReason) -> i32 {
    match reason.http_status() {
        400 => 3,  // INVALID_ARGUMENT
        401 => 16, // UNAUTHENTICATED
        503 => 14, // UNAVAILABLE
        _ => 7,    // PERMISSION_DENIED
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
        headers: allow.set_headers.iter().map(|(name, value)| overwrite(name, value.to_string())).collect(),
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
            code: grpc_code(reason),
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
            if let Some(value) = path.find(&token.claims) {
                insert(&mut metadata, key, to_proto_value(value));
            }
        }
        if allow.metadata.all_claims {
            insert(&mut metadata, "claims", ProtoValue { kind: Some(Kind::StructValue(all_claims(token))) });
        }
    }
    metadata
}

/// Every verified claim as a Struct.
fn all_claims(token: &VerifiedToken) -> Struct {
    Struct { fields: token.claims.iter().map(|(k, v)| (k.to_owned(), to_proto_value(v))).collect() }
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

#[cfg(test)]
mod tests;
