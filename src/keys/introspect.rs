//! OAuth 2.0 token introspection (RFC 7662) for opaque access tokens.
//!
//! The Check path only ever reads [`Introspector::cached`], a memory lookup.
//! A token not in the answer cache starts (or joins) one call with
//! [`Introspector::introspect`]: calls are coalesced per token, run as tasks of
//! their own (a Check that stops waiting never cancels one), and at most
//! `max_in_flight` run at once per provider. Answers are kept by the SHA-256
//! of the token: an active one at most `cache_ttl` and never past its `exp`,
//! an inactive one `negative_ttl`. A failed call (timeout, 5xx, garbage) is
//! not an answer and is not cached: the next Check asks again.
//!
//! The token travels only in the POST body; it is never logged, never a
//! metric label and never part of an error (errors name the endpoint).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::future::{FutureExt, Shared};
use serde_json::{Map, Value};

use super::fetch::{ClientAuth, Discovered, FetchError, Fetcher};
use prometheus_client::metrics::counter::Counter;

use super::metrics::KeyMetrics;
use super::source::BoxFuture;
use super::Secret;

/// Where the introspection endpoint is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// Configured (`introspection.endpoint`).
    Url(String),
    /// Found in the issuer's metadata (`introspection.discovery: true`).
    Discovery { url: String, issuer: String },
}

/// One provider's introspection, as `config` builds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IntrospectionSpec {
    pub(crate) endpoint: Endpoint,
    pub(crate) client_id: String,
    pub(crate) client_secret: Secret,
    pub(crate) auth: ClientAuth,
    /// Longest an active answer is reused (never past its `exp`).
    pub(crate) cache_ttl: Duration,
    /// How long an inactive answer is reused.
    pub(crate) negative_ttl: Duration,
    /// Longest a Check waits for a call it started or joined.
    pub(crate) wait: Duration,
    /// Calls in flight at once; a token that finds none free is not introspected now.
    pub(crate) max_in_flight: usize,
    /// Answers kept at most.
    pub(crate) max_entries: u64,
    pub(crate) fetch: super::FetchSettings,
}

/// What the authorization server said about a token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    /// `active: true`, with the response's other members as the claims.
    Active(Arc<Map<String, Value>>),
    /// `active: false` (or anything but `true`).
    Inactive,
}

#[derive(Clone)]
struct Kept {
    answer: Answer,
    /// Unix time the answer stops being reused.
    until: f64,
    lifetime: Duration,
}

struct KeptExpiry;

impl moka::Expiry<[u8; 32], Kept> for KeptExpiry {
    fn expire_after_create(&self, _key: &[u8; 32], kept: &Kept, _created: Instant) -> Option<Duration> {
        Some(kept.lifetime)
    }
}

/// Why a call gave no answer. Never holds the token.
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("the response is not a JSON object with a boolean `active`")]
    Invalid,
}

impl CallError {
    fn outcome(&self) -> &'static str {
        match self {
            CallError::Fetch(error) => error.outcome(),
            CallError::Invalid => "invalid_response",
        }
    }
}

type Call = Shared<BoxFuture<'static, ()>>;

/// One provider's introspection client and answer cache.
pub(crate) struct Introspector {
    provider: String,
    spec: IntrospectionSpec,
    secret: String,
    fetcher: Fetcher,
    answers: moka::sync::Cache<[u8; 32], Kept>,
    in_flight: Mutex<HashMap<[u8; 32], Call>>,
    permits: Arc<tokio::sync::Semaphore>,
    /// The endpoint discovery found, until a call to it fails.
    discovered: Mutex<Option<String>>,
    metrics: Arc<KeyMetrics>,
    /// Answer-cache hits and misses of this provider.
    lookups: (Counter, Counter),
}

impl Introspector {
    pub(crate) fn new(
        provider: &str,
        spec: IntrospectionSpec,
        secret: String,
        metrics: Arc<KeyMetrics>,
    ) -> Result<Self, reqwest::Error> {
        let fetcher = Fetcher::new(&spec.fetch)?;
        let answers =
            moka::sync::Cache::builder().max_capacity(spec.max_entries).expire_after(KeptExpiry).build();
        let permits = Arc::new(tokio::sync::Semaphore::new(spec.max_in_flight));
        Ok(Self {
            provider: provider.to_owned(),
            spec,
            secret,
            fetcher,
            answers,
            in_flight: Mutex::new(HashMap::new()),
            permits,
            discovered: Mutex::new(None),
            lookups: metrics.introspection_lookups(provider),
            metrics,
        })
    }

    /// The answer kept for the token with this SHA-256, if any, and the
    /// Unix time it stops being reused. Memory only.
    pub(crate) fn cached(&self, digest: &[u8; 32]) -> Option<(Answer, f64)> {
        let kept = self.answers.get(digest).map(|kept| (kept.answer, kept.until));
        if kept.is_some() { &self.lookups.0 } else { &self.lookups.1 }.inc();
        kept
    }

    /// Longest a Check waits for [`introspect`](Self::introspect).
    pub(crate) fn wait(&self) -> Duration {
        self.spec.wait
    }

    /// Starts a call for `token` (whose SHA-256 is `digest`), or joins the
    /// one in flight. The call runs on whether or not the future is polled.
    /// Resolves at once when `max_in_flight` calls are already running.
    pub(crate) fn introspect(self: &Arc<Self>, token: &str, digest: [u8; 32]) -> BoxFuture<'static, ()> {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(call) = in_flight.get(&digest) {
            return Box::pin(call.clone());
        }
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            self.metrics.introspected(&self.provider, "overloaded");
            return Box::pin(std::future::ready(()));
        };
        let this = self.clone();
        let token = token.to_owned();
        let task = tokio::spawn(async move {
            this.call(&token, digest).await;
            drop(permit);
            this.in_flight.lock().unwrap_or_else(PoisonError::into_inner).remove(&digest);
        });
        let call: Call = async move {
            let _ = task.await;
        }
        .boxed()
        .shared();
        in_flight.insert(digest, call.clone());
        Box::pin(call)
    }

    /// One call: asks, keeps the answer, counts the outcome.
    async fn call(&self, token: &str, digest: [u8; 32]) {
        let started = Instant::now();
        let result = self.ask(token).await;
        self.metrics.introspection_duration(&self.provider, started.elapsed());
        match result {
            Ok(answer) => {
                let outcome = if matches!(answer, Answer::Active(_)) { "active" } else { "inactive" };
                self.metrics.introspected(&self.provider, outcome);
                let lifetime = self.lifetime(&answer);
                let until = crate::clock::since_epoch().as_secs_f64() + lifetime.as_secs_f64();
                self.answers.insert(digest, Kept { answer, until, lifetime });
            }
            Err(error) => {
                self.metrics.introspected(&self.provider, error.outcome());
                if matches!(error, CallError::Fetch(_)) {
                    *self.discovered.lock().unwrap_or_else(PoisonError::into_inner) = None;
                }
                tracing::warn!(provider = %self.provider, %error, "token introspection failed");
            }
        }
    }

    async fn ask(&self, token: &str) -> Result<Answer, CallError> {
        let endpoint = self.endpoint().await?;
        let form = [("token", token), ("token_type_hint", "access_token")];
        let client = (self.spec.client_id.as_str(), self.secret.as_str());
        let body = self.fetcher.post_form(&endpoint, &form, client, self.spec.auth).await?;
        parse_answer(&body)
    }

    async fn endpoint(&self) -> Result<String, FetchError> {
        match &self.spec.endpoint {
            Endpoint::Url(url) => Ok(url.clone()),
            Endpoint::Discovery { url, issuer } => {
                let known = self.discovered.lock().unwrap_or_else(PoisonError::into_inner).clone();
                if let Some(endpoint) = known {
                    return Ok(endpoint);
                }
                let found = self.fetcher.discover_url(url, issuer, Discovered::IntrospectionEndpoint).await?;
                *self.discovered.lock().unwrap_or_else(PoisonError::into_inner) = Some(found.clone());
                Ok(found)
            }
        }
    }

    /// How long an answer is kept: an active one at most `cache_ttl` and
    /// never past its `exp` (one already past it is kept as briefly as an
    /// inactive one: the Check that reads it denies it as expired).
    fn lifetime(&self, answer: &Answer) -> Duration {
        match answer {
            Answer::Inactive => self.spec.negative_ttl,
            Answer::Active(claims) => {
                let now = crate::clock::since_epoch().as_secs_f64();
                match claims.get("exp").and_then(Value::as_f64) {
                    Some(exp) if exp <= now => self.spec.negative_ttl,
                    Some(exp) => self.spec.cache_ttl.min(Duration::from_secs_f64(exp - now)),
                    None => self.spec.cache_ttl,
                }
            }
        }
    }
}

/// An RFC 7662 §2.2 response: `active` must be the boolean `true` for an
/// active token; every other member becomes a claim.
fn parse_answer(body: &[u8]) -> Result<Answer, CallError> {
    let Ok(Value::Object(mut members)) = serde_json::from_slice::<Value>(body) else {
        return Err(CallError::Invalid);
    };
    match members.remove("active") {
        Some(Value::Bool(true)) => Ok(Answer::Active(Arc::new(members))),
        Some(Value::Bool(false)) => Ok(Answer::Inactive),
        _ => Err(CallError::Invalid),
    }
}

/// Reads the client secret at start (an unset variable or unreadable file
/// is a start-up error).
pub(crate) fn read_client_secret(secret: &Secret) -> Result<String, super::SourceError> {
    let bytes = super::read_secret(secret)?;
    String::from_utf8(bytes).map_err(|_| super::SourceError::SecretNotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_must_be_the_boolean_true() {
        let active = parse_answer(br#"{"active":true,"sub":"u1","scope":"a b"}"#).unwrap();
        let Answer::Active(claims) = active else { panic!("not active") };
        assert_eq!(claims.get("sub"), Some(&Value::from("u1")));
        assert!(!claims.contains_key("active"));
        assert_eq!(parse_answer(br#"{"active":false}"#).unwrap(), Answer::Inactive);
        for body in [&br#"{"active":"true"}"#[..], br#"{"sub":"u1"}"#, b"[]", b"not json", b""] {
            assert!(matches!(parse_answer(body), Err(CallError::Invalid)), "{body:?}");
        }
    }
}
