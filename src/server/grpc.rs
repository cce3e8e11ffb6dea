//! The ext_authz gRPC service: takes a Check, has it decided, answers.
//!
//! Every decision, deny included, is an `Ok` response: a gRPC error would be
//! an *error* to Envoy, which `failure_mode_allow: true` turns into an allow.
//!
//! The service is written here rather than generated so that its codec can
//! write the answer straight from the [`Decision`] ([`super::answer`]): the
//! request is decoded by prost as the generated server would; the routing,
//! the `Unimplemented` answer to other methods and the message-size limit
//! are the generated server's.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::codec::{Codec, EncodeBuf, Encoder};
use tonic::codegen::{http, Body as HttpBody, BoxFuture, Service, StdError};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;

use super::answer::write_answer;
use super::check::Checks;
use super::observe::{CheckContext, TraceHeaders};
use super::wire::{http_attributes, to_http_request};
use crate::authz::{Authorizer, Decision, DenyReason, Policy};
use crate::proto::envoy::service::auth::v3::{CheckRequest, CheckResponse};

/// The gRPC path of the one method.
const CHECK_PATH: &str = "/envoy.service.auth.v3.Authorization/Check";

/// The `envoy.service.auth.v3.Authorization` service.
#[derive(Clone)]
pub(crate) struct CheckService {
    checks: Arc<Checks>,
    max_request_bytes: usize,
}

impl CheckService {
    /// Refuses (`OutOfRange`) a request larger than `max_request_bytes`.
    pub(crate) fn new(checks: Arc<Checks>, max_request_bytes: usize) -> Self {
        Self { checks, max_request_bytes }
    }

    async fn check(&self, check: CheckRequest) -> Decision {
        let trace = TraceHeaders::of(&check);
        let context = CheckContext::grpc(&check, &trace);
        let request = http_attributes(&check).map(|http| to_http_request(&check, http));
        self.checks.decide(&context, request.as_ref().ok_or(DenyReason::MalformedRequest)).await
    }
}

impl NamedService for CheckService {
    const NAME: &'static str = "envoy.service.auth.v3.Authorization";
}

impl<B> Service<http::Request<B>> for CheckService
where
    B: HttpBody + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != CHECK_PATH {
            return Box::pin(async { Ok(Status::unimplemented("").into_http()) });
        }
        let service = self.clone();
        Box::pin(async move {
            let limit = Some(service.max_request_bytes);
            let mut grpc = Grpc::new(AnswerCodec).apply_max_message_size_config(limit, None);
            Ok(grpc.unary(service, request).await)
        })
    }
}

impl UnaryService<CheckRequest> for CheckService {
    type Response = Decision;
    type Future = BoxFuture<Response<Decision>, Status>;

    fn call(&mut self, request: Request<CheckRequest>) -> Self::Future {
        let service = self.clone();
        Box::pin(async move { Ok(Response::new(service.check(request.into_inner()).await)) })
    }
}

/// Decodes a `CheckRequest` with prost; encodes the answer from the decision.
struct AnswerCodec;

/// Writes a decision's `CheckResponse` ([`write_answer`]).
struct AnswerEncoder;

impl Codec for AnswerCodec {
    type Encode = Decision;
    type Decode = CheckRequest;
    type Encoder = AnswerEncoder;
    type Decoder = <ProstCodec<CheckResponse, CheckRequest> as Codec>::Decoder;

    fn encoder(&mut self) -> AnswerEncoder {
        AnswerEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::<CheckResponse, CheckRequest>::default().decoder()
    }
}

impl Encoder for AnswerEncoder {
    type Item = Decision;
    type Error = Status;

    fn encode(&mut self, decision: Decision, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        write_answer(&decision, buf);
        Ok(())
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
