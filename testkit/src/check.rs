//! CheckRequests as Envoy sends them, and what a test asserts of the answer.

use gatehouse::internals::wire::check_response::HttpResponse;
use gatehouse::internals::wire::{
    CheckRequest, CheckResponse, DeniedHttpResponse, HeaderValueOption, OkHttpResponse,
};
use gatehouse::internals::CheckRequestBuilder;

/// A CheckRequest as Envoy sends it by default: merged, lower-cased `headers`.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> CheckRequest {
    CheckRequestBuilder::new(method, path).headers(headers).build()
}

/// A CheckRequest as Envoy sends it with `encode_raw_headers: true`.
pub fn raw_request(method: &str, path: &str, headers: &[(&str, &[u8])]) -> CheckRequest {
    let builder = CheckRequestBuilder::new(method, path);
    headers.iter().fold(builder, |b, (name, value)| b.raw_header(name, value)).build()
}

pub fn ok(response: &CheckResponse) -> &OkHttpResponse {
    assert_eq!(response.status.as_ref().map(|s| s.code), Some(0), "expected allow: {response:?}");
    match &response.http_response {
        Some(HttpResponse::OkResponse(ok)) => ok,
        other => panic!("expected ok_response, got {other:?}"),
    }
}

/// Asserts a deny and returns (http status, grpc code, denied response).
pub fn denied(response: &CheckResponse) -> (i32, i32, &DeniedHttpResponse) {
    let code = response.status.as_ref().map(|s| s.code).unwrap_or(0);
    assert_ne!(code, 0, "expected deny: {response:?}");
    match &response.http_response {
        Some(HttpResponse::DeniedResponse(denied)) => {
            (denied.status.as_ref().map(|s| s.code).unwrap_or(0), code, denied)
        }
        other => panic!("expected denied_response, got {other:?}"),
    }
}

pub fn header<'a>(headers: &'a [HeaderValueOption], name: &str) -> Option<&'a str> {
    headers.iter().filter_map(|h| h.header.as_ref()).find(|h| h.key == name).map(|h| h.value.as_str())
}

/// Every header gatehouse sets must overwrite (append explicitly false).
pub fn assert_overwrites(ok: &OkHttpResponse) {
    for option in &ok.headers {
        assert_eq!(option.append, Some(false), "header must be set with append=false: {option:?}");
        let name = &option.header.as_ref().unwrap().key;
        assert!(!ok.headers_to_remove.contains(name), "{name} is both set and removed");
    }
}
