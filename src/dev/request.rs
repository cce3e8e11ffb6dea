//! [`CheckRequestBuilder`]: a CheckRequest as Envoy's ext_authz filter
//! sends it, for `dev check`, `explain`, the tests, the benchmarks and the
//! fuzz seeds (one builder for all of them).

use std::collections::HashMap;

use prost::Message;

use crate::proto::envoy::config::core::v3::{HeaderMap, HeaderValue};
use crate::proto::envoy::service::auth::v3::{attribute_context, AttributeContext, CheckRequest};

/// Builds a CheckRequest. Headers go either into the merged `headers` map
/// (Envoy's default: lower-cased names, repeated headers joined with `,`,
/// bytes that are not UTF-8 replaced) or, one entry per value with the raw
/// bytes, into `header_map` (what `encode_raw_headers: true` sends).
#[derive(Debug, Clone)]
pub struct CheckRequestBuilder {
    http: attribute_context::HttpRequest,
    attributes: AttributeContext,
}

impl CheckRequestBuilder {
    /// `method path` for host `api.example.com`, without headers.
    pub fn new(method: &str, path: &str) -> Self {
        let http = attribute_context::HttpRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            host: "api.example.com".to_owned(),
            ..Default::default()
        };
        Self { http, attributes: AttributeContext::default() }
    }

    pub fn host(mut self, host: &str) -> Self {
        host.clone_into(&mut self.http.host);
        self
    }

    /// A header in the merged `headers` map.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name = name.trim().to_ascii_lowercase();
        match self.http.headers.get_mut(&name) {
            Some(joined) => {
                joined.push(',');
                joined.push_str(value);
            }
            None => {
                self.http.headers.insert(name, value.to_owned());
            }
        }
        self
    }

    /// Each `(name, value)` in the merged `headers` map.
    pub fn headers(self, headers: &[(&str, &str)]) -> Self {
        headers.iter().fold(self, |builder, (name, value)| builder.header(name, value))
    }

    /// One `header_map` entry, bytes as they are (`encode_raw_headers: true`).
    pub fn raw_header(mut self, name: &str, value: &[u8]) -> Self {
        let entry = HeaderValue { key: name.to_owned(), value: String::new(), raw_value: value.to_vec() };
        self.http.header_map.get_or_insert_with(HeaderMap::default).headers.push(entry);
        self
    }

    /// `Authorization: Bearer <token>` in the merged map.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// A context extension, as an Envoy route sets it (`gatehouse_rule`).
    pub fn context(mut self, key: &str, value: &str) -> Self {
        self.attributes.context_extensions.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Envoy's request id (`x-request-id` is a separate header).
    pub fn id(mut self, id: &str) -> Self {
        id.clone_into(&mut self.http.id);
        self
    }

    /// Scheme and protocol as Envoy reports them (`https`, `HTTP/2`).
    pub fn scheme(mut self, scheme: &str, protocol: &str) -> Self {
        scheme.clone_into(&mut self.http.scheme);
        protocol.clone_into(&mut self.http.protocol);
        self
    }

    /// The mTLS peers of a mesh: the calling service and this one, by SPIFFE id.
    pub fn peers(mut self, source: (&str, &str), destination: (&str, &str)) -> Self {
        let peer = |(service, principal): (&str, &str)| attribute_context::Peer {
            service: service.to_owned(),
            labels: HashMap::from([("app".to_owned(), service.to_owned())]),
            principal: principal.to_owned(),
            certificate: String::new(),
        };
        self.attributes.source = Some(peer(source));
        self.attributes.destination = Some(peer(destination));
        self
    }

    pub fn build(self) -> CheckRequest {
        let request = attribute_context::Request { http: Some(self.http) };
        CheckRequest { attributes: Some(AttributeContext { request: Some(request), ..self.attributes }) }
    }

    /// The CheckRequest as one gRPC message frame (0x00, 4-byte big-endian
    /// length, protobuf), as a load generator sends it.
    pub fn framed(self) -> Vec<u8> {
        let body = self.build().encode_to_vec();
        let mut framed = Vec::with_capacity(body.len() + 5);
        framed.push(0);
        framed.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes());
        framed.extend_from_slice(&body);
        framed
    }
}
