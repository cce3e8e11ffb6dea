//! The admin listener (`revocation.admin.addr`): revocations in and out
//! (`POST`/`GET /v1/revocations`, with the admin bearer token) and OpenID
//! Connect back-channel logout (`POST /v1/backchannel-logout`: the logout
//! token authenticates itself). Every answer is JSON; a revocation is
//! acknowledged only once Redis holds it.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use super::live::Live;
use crate::authz::{verify_logout_token, Logout, MAX_LOGOUT_TOKEN_AGE_SECS};
use crate::clock::unix_now;
use crate::revocation::{
    cutoff_now, EntryKey, Origin, RecordError, Revocation, RevocationRequest, RevocationService, Selector,
};

/// What the admin endpoints read.
#[derive(Clone)]
pub(crate) struct AdminState {
    pub(crate) live: Arc<Live>,
    pub(crate) revocations: Arc<RevocationService>,
    /// The admin bearer token.
    pub(crate) token: Arc<str>,
}

pub(crate) fn admin_router(state: AdminState, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/v1/revocations", post(create).get(list))
        .route("/v1/backchannel-logout", post(backchannel_logout))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

fn answer(status: StatusCode, body: Value) -> Response {
    let headers = [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")];
    (status, headers, body.to_string()).into_response()
}

fn problem(status: StatusCode, error: &str, description: impl std::fmt::Display) -> Response {
    answer(status, json!({ "error": error, "error_description": description.to_string() }))
}

/// The request carries `Authorization: Bearer <admin token>`, compared in constant time.
fn authorized(state: &AdminState, headers: &HeaderMap) -> bool {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
    presented.is_some_and(|token| {
        aws_lc_rs::constant_time::verify_slices_are_equal(token.as_bytes(), state.token.as_bytes()).is_ok()
    })
}

fn unauthorized() -> Response {
    let mut response =
        problem(StatusCode::UNAUTHORIZED, "invalid_token", "the admin bearer token is required");
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer realm=\"gatehouse-admin\""),
    );
    response
}

fn listed(key: EntryKey, entry: &Revocation) -> Value {
    let mut value = serde_json::to_value(entry).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert("id".to_owned(), json!(key.to_string()));
    }
    value
}

/// `POST /v1/revocations`: 201 with the stored entry once Redis holds it.
async fn create(State(state): State<AdminState>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&state, &headers) {
        return unauthorized();
    }
    let request: RevocationRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => return problem(StatusCode::BAD_REQUEST, "invalid_request", error),
    };
    let known = state.live.load().policy.providers().iter().any(|p| p.validation.issuer == request.issuer);
    if !known {
        return problem(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("unknown issuer `{}`", request.issuer),
        );
    }
    let expiry = |issuer: &str, issued_before: u64| expiry(&state, issuer, issued_before);
    let entry = match request.into_entry(unix_now(), Origin::Admin, expiry) {
        Ok(entry) => entry,
        Err(error) => return problem(StatusCode::BAD_REQUEST, "invalid_request", error),
    };
    match state.revocations.record(entry).await {
        Ok((key, entry)) => answer(StatusCode::CREATED, listed(key, &entry)),
        Err(error) => record_failed(error),
    }
}

/// When an entry stops mattering: `issued_before` plus the longest a token
/// of the provider (as configured now) is accepted, else the retention.
fn expiry(state: &AdminState, issuer: &str, issued_before: u64) -> u64 {
    let snapshot = state.live.load();
    let provider = snapshot.policy.providers().iter().find(|p| p.validation.issuer == issuer);
    let age =
        provider.and_then(|p| p.validation.max_lifetime_secs.map(|max| max + p.validation.clock_skew_secs));
    match age {
        Some(age) => issued_before.saturating_add(age),
        None => state.revocations.expiry(issuer, issued_before),
    }
}

fn record_failed(error: RecordError) -> Response {
    tracing::error!(%error, "revocation not stored");
    problem(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", error)
}

/// `GET /v1/revocations`: every live entry, oldest first.
async fn list(State(state): State<AdminState>, headers: HeaderMap) -> Response {
    if !authorized(&state, &headers) {
        return unauthorized();
    }
    let entries = state.revocations.revocations().live_entries();
    let entries: Vec<Value> = entries.iter().map(|(key, entry)| listed(*key, entry)).collect();
    answer(StatusCode::OK, json!({ "revocations": entries }))
}

/// `POST /v1/backchannel-logout` (form-encoded `logout_token`): revokes the
/// session (`sid`) and the subject's tokens issued before now (`sub`),
/// whichever the token names. 200, or 400 with the reason.
async fn backchannel_logout(State(state): State<AdminState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !form.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
        return problem(StatusCode::BAD_REQUEST, "invalid_request", "send `logout_token` form-encoded");
    }
    let tokens: Vec<String> = url::form_urlencoded::parse(&body)
        .filter(|(name, _)| name == "logout_token")
        .map(|(_, value)| value.into_owned())
        .collect();
    let [raw] = tokens.as_slice() else {
        return problem(StatusCode::BAD_REQUEST, "invalid_request", "send exactly one `logout_token`");
    };
    let now = unix_now();
    let logout = match verify_logout_token(&state.live.load().policy, raw, now) {
        Ok(logout) => logout,
        Err(error) => return problem(StatusCode::BAD_REQUEST, "invalid_request", error),
    };
    // A replay would log the subject out again later: its `jti` is
    // remembered in Redis, for every replica, for as long as it is accepted.
    let replay_key =
        format!("logout:{}", crate::redact::short_hash(&format!("{}\u{0}{}", logout.issuer, logout.jti)));
    let accepted_for = logout.exp.saturating_sub(now).max(MAX_LOGOUT_TOKEN_AGE_SECS) + 60;
    match state.revocations.first_use(&replay_key, std::time::Duration::from_secs(accepted_for)).await {
        Ok(true) => {}
        Ok(false) => {
            return problem(StatusCode::BAD_REQUEST, "invalid_request", "the logout token was already used")
        }
        Err(error) => return record_failed(error),
    }
    for entry in logout_entries(&state, &logout, now) {
        if let Err(error) = state.revocations.record(entry).await {
            // Not logged out: let the provider's retry through.
            state.revocations.forget_use(&replay_key).await;
            return record_failed(error);
        }
    }
    answer(StatusCode::OK, json!({}))
}

/// The session and the subject a logout names. Both when both are named:
/// access tokens often carry no `sid`, and only the subject's cut-off
/// reaches those of the session that logged out.
fn logout_entries(state: &AdminState, logout: &Logout, now: u64) -> Vec<Revocation> {
    let entry = |selector| Revocation {
        issuer: logout.issuer.clone(),
        selector,
        expires_at: expiry(state, &logout.issuer, now),
        created_at: now,
        by: Origin::Backchannel,
    };
    let mut entries = Vec::new();
    if let Some(sid) = &logout.sid {
        entries.push(entry(Selector::Sid { sid: sid.clone() }));
    }
    if let Some(sub) = &logout.sub {
        entries.push(entry(Selector::Sub { sub: sub.clone(), issued_before: cutoff_now(now) }));
    }
    entries
}
