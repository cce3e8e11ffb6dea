//! The HTTP check listener (`server.http_check_addr`): the same decisions
//! for proxies that ask over HTTP. Each proxy has a fixed path, so how the
//! original request is read is never chosen by a header a client could send:
//!
//! - `/v1/check/envoy/<original path>`: Envoy `http_service` with
//!   `path_prefix: /v1/check/envoy`; the method, the path after the prefix
//!   and the headers as Envoy sends them, the host from `Host`/`:authority`;
//! - `/v1/check/nginx`: nginx `auth_request`; `X-Original-Method`,
//!   `X-Original-URI`, `X-Original-Host` (set by the proxy config);
//! - `/v1/check/traefik`: Traefik `forwardAuth`; `X-Forwarded-Method`,
//!   `-Host`, `-Uri`, `-Proto` (set by Traefik).
//!
//! A missing, repeated or malformed original-request header is a 400 deny.
//! An allow is a 200 carrying the identity headers; a deny carries the
//! status, `WWW-Authenticate` and JSON body gRPC mode sends (for nginx, which
//! passes only 401 and 403 on, see [`NGINX_STATUS`]).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, request::Parts, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;
use opentelemetry::propagation::Extractor;

use super::check::Checks;
use super::observe::{CheckContext, FrontDoor};
use crate::authz::{Allow, Decision, Deny, DenyReason, HttpRequest};

const ENVOY_PREFIX: &str = "/v1/check/envoy";
const NGINX_PATH: &str = "/v1/check/nginx";
const TRAEFIK_PATH: &str = "/v1/check/traefik";

/// For nginx: the real status of a deny; its answer is 401 or 403 (what
/// `auth_request` passes on), and the shipped config answers the client
/// with this status and [`NGINX_BODY`].
const NGINX_STATUS: &str = "x-gatehouse-status";
/// For nginx: the deny's JSON body, which `auth_request` does not pass on.
const NGINX_BODY: &str = "x-gatehouse-body";
/// For Envoy: the identity headers (and credential) to strip upstream.
const ENVOY_REMOVE: &str = "x-envoy-auth-headers-to-remove";

/// The original-request headers of nginx and Traefik: method, URI, host,
/// and (Traefik) scheme. Not part of the request the decision sees.
const NGINX_ORIGINAL: [&str; 3] = ["x-original-method", "x-original-uri", "x-original-host"];
const TRAEFIK_ORIGINAL: [&str; 4] =
    ["x-forwarded-method", "x-forwarded-uri", "x-forwarded-host", "x-forwarded-proto"];

pub(crate) fn http_check_router(checks: Arc<Checks>) -> Router {
    Router::new().fallback(check).with_state(checks)
}

async fn check(State(checks): State<Arc<Checks>>, request: axum::extract::Request) -> Response {
    let (parts, _body) = request.into_parts();
    let Some(door) = door_of(parts.uri.path()) else {
        return plain(
            StatusCode::NOT_FOUND,
            "no such check path: use /v1/check/envoy/..., /v1/check/nginx or /v1/check/traefik",
        );
    };
    let trace = Headers(&parts.headers);
    let request_id = single(&parts.headers, "x-request-id").unwrap_or("");
    let original = original_request(door, &parts);
    let method = original.as_ref().map_or("", |o| o.method);
    let context = CheckContext { door, request_id, method, trace: &trace };
    let request = original.map(|original| to_http_request(door, &parts, original));
    let decision = checks.decide(&context, request.as_ref().map_err(|reason| *reason)).await;
    answer(door, &decision)
}

fn door_of(path: &str) -> Option<FrontDoor> {
    match path {
        NGINX_PATH => Some(FrontDoor::Nginx),
        TRAEFIK_PATH => Some(FrontDoor::Traefik),
        _ if path.strip_prefix(ENVOY_PREFIX).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')) => {
            Some(FrontDoor::EnvoyHttp)
        }
        _ => None,
    }
}

/// The request the proxy is asking about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Original<'a> {
    method: &'a str,
    host: &'a str,
    /// Path and query, as sent.
    target: &'a str,
}

fn original_request(door: FrontDoor, parts: &Parts) -> Result<Original<'_>, DenyReason> {
    let headers = &parts.headers;
    let original = match door {
        FrontDoor::EnvoyHttp | FrontDoor::Grpc => {
            let raw = parts.uri.path_and_query().map_or("", |p| p.as_str());
            let target = raw.strip_prefix(ENVOY_PREFIX).unwrap_or("");
            let host = single(headers, "host").or_else(|| parts.uri.authority().map(|a| a.as_str()));
            Original { method: parts.method.as_str(), host: host.unwrap_or(""), target }
        }
        FrontDoor::Nginx => Original {
            method: required(headers, "x-original-method")?,
            target: required(headers, "x-original-uri")?,
            host: required(headers, "x-original-host")?,
        },
        FrontDoor::Traefik => {
            let proto = required(headers, "x-forwarded-proto")?;
            if !["http", "https", "ws", "wss"].iter().any(|p| p.eq_ignore_ascii_case(proto)) {
                return Err(DenyReason::MalformedRequest);
            }
            Original {
                method: required(headers, "x-forwarded-method")?,
                target: required(headers, "x-forwarded-uri")?,
                host: required(headers, "x-forwarded-host")?,
            }
        }
    };
    original.check()
}

impl<'a> Original<'a> {
    /// A method that is an HTTP token, a target in origin form of visible
    /// ASCII, a host of visible ASCII without a path: else a 400.
    fn check(self) -> Result<Self, DenyReason> {
        let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        let visible = |s: &str| s.bytes().all(|b| b.is_ascii_graphic());
        let method_ok = !self.method.is_empty() && self.method.len() <= 32 && self.method.bytes().all(tchar);
        let target_ok = self.target.starts_with('/') && visible(self.target);
        let host_ok =
            !self.host.is_empty() && self.host.len() <= 300 && visible(self.host) && !self.host.contains('/');
        if method_ok && target_ok && host_ok {
            Ok(self)
        } else {
            Err(DenyReason::MalformedRequest)
        }
    }
}

/// The one value of `name`; `None` when absent, repeated or not UTF-8.
fn single<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    value.to_str().ok()
}

fn required<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, DenyReason> {
    single(headers, name).ok_or(DenyReason::MalformedRequest)
}

/// The request as the decision sees it: the original method, host and
/// target, and the headers without the front door's own.
fn to_http_request<'a>(door: FrontDoor, parts: &'a Parts, original: Original<'a>) -> HttpRequest<'a> {
    let own: &[&str] = match door {
        FrontDoor::Nginx => &NGINX_ORIGINAL,
        FrontDoor::Traefik => &TRAEFIK_ORIGINAL,
        FrontDoor::EnvoyHttp | FrontDoor::Grpc => &[],
    };
    let headers = parts
        .headers
        .iter()
        .filter(|(name, _)| !own.contains(&name.as_str()))
        .map(|(name, value)| (name.as_str(), value.as_bytes()))
        .collect();
    HttpRequest {
        method: original.method,
        host: original.host,
        path: original.target,
        headers,
        context_extensions: None,
    }
}

fn answer(door: FrontDoor, decision: &Decision) -> Response {
    let built = match decision {
        Decision::Allow(allow) => allow_answer(door, allow),
        Decision::Deny(deny) => Some(deny_answer(door, deny)),
    };
    // An identity value no HTTP header can carry is filtered out by the
    // decision already; should one get here, fail closed.
    built.unwrap_or_else(|| {
        plain(StatusCode::INTERNAL_SERVER_ERROR, "an identity header could not be encoded")
    })
}

fn allow_answer(door: FrontDoor, allow: &Allow) -> Option<Response> {
    let mut response = Response::new(Body::empty());
    let headers = response.headers_mut();
    for (name, value) in allow.set_headers.iter() {
        let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
        headers.insert(name, HeaderValue::from_bytes(value.as_bytes()).ok()?);
    }
    if door == FrontDoor::EnvoyHttp && !allow.remove_headers.is_empty() {
        let names: Vec<&str> = allow.remove_headers.iter().map(|h| &**h).collect();
        headers.insert(ENVOY_REMOVE, HeaderValue::from_str(&names.join(",")).ok()?);
    }
    Some(response)
}

fn deny_answer(door: FrontDoor, deny: &Deny) -> Response {
    let status = deny.reason.http_status();
    let body = deny.reason.body();
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(challenge) = deny.www_authenticate().and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::WWW_AUTHENTICATE, challenge);
    }
    let sent = match door {
        FrontDoor::Nginx => {
            headers.insert(NGINX_STATUS, HeaderValue::from(status));
            if let Ok(body) = HeaderValue::from_str(&body) {
                headers.insert(NGINX_BODY, body);
            }
            if status == 401 {
                401
            } else {
                403
            }
        }
        FrontDoor::Grpc | FrontDoor::EnvoyHttp | FrontDoor::Traefik => status,
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(sent).unwrap_or(StatusCode::FORBIDDEN);
    *response.headers_mut() = headers;
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response
}

/// A request's headers, for its W3C trace context.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests;
