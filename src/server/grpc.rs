//! The ext_authz gRPC service: takes a Check, decides it on the snapshot in
//! force, records what the Check leaves behind, answers.
//!
//! Every decision, deny included, is an `Ok` response: a gRPC error would be
//! an *error* to Envoy, which `failure_mode_allow: true` turns into an allow.

use std::sync::Arc;
use std::time::Instant;

use tonic::{Request, Response, Status};

use super::live::Live;
use super::observe::{self, CheckMetrics};
use super::wire::{http_attributes, to_check_response, to_http_request};
use crate::authz::{Authorizer, Decision, DenyReason, Policy};
use crate::proto::envoy::service::auth::v3::{
    authorization_server::Authorization, CheckRequest, CheckResponse,
};

/// The `envoy.service.auth.v3.Authorization` implementation.
pub(crate) struct CheckService {
    live: Arc<Live>,
    authorizer: Authorizer,
    metrics: Arc<CheckMetrics>,
    /// Checks in progress; beyond `limits.max_concurrent_checks` a Check is
    /// denied with 503 at once: overload never queues without bound and never
    /// turns into an allow (or into an RPC error Envoy might fail open on).
    permits: tokio::sync::Semaphore,
}

impl CheckService {
    pub(crate) fn new(live: Arc<Live>, metrics: Arc<CheckMetrics>, max_concurrent_checks: usize) -> Self {
        let permits = tokio::sync::Semaphore::new(max_concurrent_checks);
        Self { live, authorizer: Authorizer::new(), metrics, permits }
    }
}

#[tonic::async_trait]
impl Authorization for CheckService {
    async fn check(&self, request: Request<CheckRequest>) -> Result<Response<CheckResponse>, Status> {
        let started = Instant::now();
        let check = request.into_inner();
        // One snapshot for the decision and the settings around it.
        let snapshot = self.live.load();
        // Parented on the request's W3C `traceparent`; ends when the Check returns.
        let span = observe::check_span(&check, snapshot.decision_log || crate::telemetry::exporting());
        let decide = async {
            let Ok(_permit) = self.permits.try_acquire() else {
                return Decision::deny(DenyReason::Overloaded);
            };
            decide(&self.authorizer, &snapshot.policy, &check).await
        };
        let decision = tracing::Instrument::instrument(decide, span.clone()).await;
        span.in_scope(|| {
            observe::record_decision(&span, &decision);
            observe::log_decision(&decision, &check, snapshot.decision_log);
        });
        self.metrics.record(&decision, started.elapsed());
        Ok(Response::new(to_check_response(&decision)))
    }
}

/// The decision for one CheckRequest on `policy`: what the service runs for
/// every Check, and `gatehouse explain` for one offline.
pub(crate) async fn decide(authorizer: &Authorizer, policy: &Policy, check: &CheckRequest) -> Decision {
    match http_attributes(check) {
        Some(http) => authorizer.check(policy, &to_http_request(check, http)).await,
        None => Decision::deny(DenyReason::MalformedRequest),
    }
}
