//! Opaque credentials: tokens checked by RFC 7662 introspection, API keys,
//! and `token_types` pinning for JWS providers.

mod api_keys;
mod envoy;
mod introspection;
mod introspection_load;
mod logs;
mod token_types;

use gatehouse::internals::wire::CheckResponse;
use gatehouse_testkit::*;

/// How one Check was answered: `allow <x-user-id>` or the deny's reason and status.
pub(super) fn outcome(response: &CheckResponse) -> String {
    match response.status.as_ref().map(|s| s.code) {
        Some(0) => format!("allow {}", header(&ok(response).headers, "x-user-id").unwrap_or("-")),
        _ => {
            let (status, _, _) = denied(response);
            format!("{} {status}", response.status.as_ref().map(|s| s.message.as_str()).unwrap_or(""))
        }
    }
}

/// A Check of `path` with `Authorization: Bearer <token>`.
pub(super) async fn check_bearer(gatehouse: &mut Gatehouse, path: &str, token: &str) -> String {
    outcome(&gatehouse.check(request("GET", path, &[("authorization", &bearer(token))])).await)
}
