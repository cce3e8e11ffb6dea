//! One Check, whichever front door it came in by: decided on the snapshot in
//! force by the one `Authorizer`, within the shared concurrency limit, and
//! recorded (metrics, decision log line, span).

use std::sync::Arc;
use std::time::Instant;

use super::live::Live;
use super::observe::{self, CheckContext, CheckMetrics};
use crate::authz::{Authorizer, Decision, DenyReason, HttpRequest};

/// What the gRPC service and the HTTP check listener share.
pub(crate) struct Checks {
    live: Arc<Live>,
    authorizer: Authorizer,
    metrics: Arc<CheckMetrics>,
    /// Checks in progress, over every front door; beyond
    /// `limits.max_concurrent_checks` a Check is denied with 503 at once:
    /// overload never queues without bound and never turns into an allow.
    permits: tokio::sync::Semaphore,
}

impl Checks {
    pub(crate) fn new(live: Arc<Live>, metrics: Arc<CheckMetrics>, max_concurrent_checks: usize) -> Self {
        let permits = tokio::sync::Semaphore::new(max_concurrent_checks);
        Self { live, authorizer: Authorizer::new(), metrics, permits }
    }

    /// The decision for `request` (or the deny its front door could not
    /// read it for), recorded under `context`.
    pub(crate) async fn decide(
        &self,
        context: &CheckContext<'_>,
        request: Result<&HttpRequest<'_>, DenyReason>,
    ) -> Decision {
        let started = Instant::now();
        // One snapshot for the decision and the settings around it.
        let snapshot = self.live.load();
        // Parented on the request's W3C `traceparent`; ends when the Check returns.
        let span = observe::check_span(context, snapshot.decision_log || crate::telemetry::exporting());
        let decide = async {
            let Ok(_permit) = self.permits.try_acquire() else {
                return Decision::deny(DenyReason::Overloaded);
            };
            match request {
                Ok(request) => self.authorizer.check(&snapshot.policy, request).await,
                Err(reason) => Decision::deny(reason),
            }
        };
        let decision = tracing::Instrument::instrument(decide, span.clone()).await;
        span.in_scope(|| {
            observe::record_decision(&span, &decision);
            observe::log_decision(&decision, context, snapshot.decision_log);
        });
        self.metrics.record(context.door, &decision, started.elapsed());
        decision
    }
}
