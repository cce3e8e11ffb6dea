//! The ext_authz gRPC service: takes a Check, has it decided, answers.
//!
//! Every decision, deny included, is an `Ok` response: a gRPC error would be
//! an *error* to Envoy, which `failure_mode_allow: true` turns into an allow.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::check::Checks;
use super::observe::{CheckContext, TraceHeaders};
use super::wire::{http_attributes, to_check_response, to_http_request};
use crate::authz::{Authorizer, Decision, DenyReason, Policy};
use crate::proto::envoy::service::auth::v3::{
    authorization_server::Authorization, CheckRequest, CheckResponse,
};

/// The `envoy.service.auth.v3.Authorization` implementation.
pub(crate) struct CheckService {
    checks: Arc<Checks>,
}

impl CheckService {
    pub(crate) fn new(checks: Arc<Checks>) -> Self {
        Self { checks }
    }
}

#[tonic::async_trait]
impl Authorization for CheckService {
    async fn check(&self, request: Request<CheckRequest>) -> Result<Response<CheckResponse>, Status> {
        let check = request.into_inner();
        let trace = TraceHeaders::of(&check);
        let context = CheckContext::grpc(&check, &trace);
        let request = http_attributes(&check).map(|http| to_http_request(&check, http));
        let decision =
            self.checks.decide(&context, request.as_ref().ok_or(DenyReason::MalformedRequest)).await;
        Ok(Response::new(to_check_response(&decision)))
    }
}

/// The decision for one CheckRequest on `policy`: what `gatehouse explain`
/// runs for one request offline, as the service would.
pub(crate) async fn decide(authorizer: &Authorizer, policy: &Policy, check: &CheckRequest) -> Decision {
    match http_attributes(check) {
        Some(http) => authorizer.check(policy, &to_http_request(check, http)).await,
        None => Decision::deny(DenyReason::MalformedRequest),
    }
}
