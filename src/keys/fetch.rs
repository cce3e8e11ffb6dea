//! HTTP to identity providers: JWKS and discovery documents (GET) and
//! token introspection (POST), over rustls, with connect and total timeouts,
//! no redirects, a size cap, JSON checks, and the URL policy that decides
//! which locations are acceptable at all.

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;

/// How one provider's key documents are fetched (`providers[].jwks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FetchSettings {
    /// Connect and total timeout of one request.
    pub(crate) timeout: Duration,
    /// Largest body accepted.
    pub(crate) max_bytes: usize,
    /// Plain `http` to hosts other than loopback.
    pub(crate) allow_http: bool,
}

/// Why a key location is not acceptable.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UrlError {
    #[error("not a valid URL: {0}")]
    Invalid(#[from] url::ParseError),
    #[error("must use https (plain http only to loopback, or with `allow_http: true`)")]
    PlainHttp,
    #[error("unsupported scheme `{0}`, use https")]
    Scheme(String),
}

/// Keys must travel over TLS, except to this host (sidecar IdPs, tests, demos)
/// or where the operator said `allow_http: true`. Config validation applies
/// it to configured URLs, discovery to the `jwks_uri` it is handed.
pub(crate) fn check_url(uri: &str, allow_http: bool) -> Result<(), UrlError> {
    let url = url::Url::parse(uri)?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_http || is_loopback(&url) => Ok(()),
        "http" => Err(UrlError::PlainHttp),
        other => Err(UrlError::Scheme(other.to_owned())),
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Why one fetch failed. `outcome()` is the metrics label.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("request timed out")]
    Timeout,
    #[error("request failed: {0}")]
    Http(#[source] reqwest::Error),
    #[error("unexpected HTTP status {0}")]
    Status(u16),
    #[error("response is larger than {0} bytes")]
    TooLarge(usize),
    #[error("invalid JWKS: {0}")]
    Jwks(#[from] super::jwk::JwksError),
    #[error("invalid discovery document: {0}")]
    Discovery(#[source] serde_json::Error),
    #[error("discovery document names issuer `{found}`, not the provider's `{expected}`")]
    DiscoveryIssuer { found: String, expected: String },
    #[error("discovered {member} {uri}: {source}")]
    DiscoveredUrl { member: &'static str, uri: String, source: UrlError },
    #[error("the discovery document has no `{0}`")]
    DiscoveryMissing(&'static str),
}

impl FetchError {
    /// Closed set of labels for `gatehouse_jwks_fetch_total{outcome}`.
    pub(crate) fn outcome(&self) -> &'static str {
        match self {
            FetchError::Timeout => "timeout",
            FetchError::Http(_) => "http_error",
            FetchError::Status(_) => "bad_status",
            FetchError::TooLarge(_) => "too_large",
            FetchError::Jwks(_) => "invalid_jwks",
            FetchError::Discovery(_)
            | FetchError::DiscoveryIssuer { .. }
            | FetchError::DiscoveredUrl { .. }
            | FetchError::DiscoveryMissing(_) => "discovery_error",
        }
    }
}

impl From<reqwest::Error> for FetchError {
    fn from(error: reqwest::Error) -> Self {
        if error.is_timeout() {
            FetchError::Timeout
        } else {
            FetchError::Http(error)
        }
    }
}

/// A configured HTTP client for one provider.
pub(crate) struct Fetcher {
    client: reqwest::Client,
    max_bytes: usize,
    allow_http: bool,
}

/// The members of an OpenID Provider (or RFC 8414 authorization server)
/// metadata document gatehouse reads.
#[derive(Deserialize)]
struct DiscoveryDocument {
    issuer: String,
    #[serde(default)]
    jwks_uri: Option<String>,
    #[serde(default)]
    introspection_endpoint: Option<String>,
}

/// A URL a discovery document names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Discovered {
    /// `jwks_uri`, from `/.well-known/openid-configuration`.
    JwksUri,
    /// `introspection_endpoint`, from `/.well-known/openid-configuration`,
    /// else RFC 8414's `/.well-known/oauth-authorization-server`.
    IntrospectionEndpoint,
}

impl Discovered {
    fn member(self) -> &'static str {
        match self {
            Discovered::JwksUri => "jwks_uri",
            Discovered::IntrospectionEndpoint => "introspection_endpoint",
        }
    }
}

/// How a client authenticates to the introspection endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    /// HTTP Basic with the form-encoded id and secret.
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
}

impl Fetcher {
    pub(crate) fn new(settings: &FetchSettings) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(settings.timeout)
            .timeout(settings.timeout)
            // A redirect could lead off the configured host; keys come only from where config says.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { client, max_bytes: settings.max_bytes, allow_http: settings.allow_http })
    }

    /// GETs `url` and returns the body, refusing non-2xx and oversized bodies.
    pub(crate) async fn get(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let response = self.client.get(url).header("accept", "application/json").send().await?;
        self.body(response).await
    }

    /// POSTs `form` (`application/x-www-form-urlencoded`) to `url` with the
    /// client's credentials, as RFC 7662 §2.1 asks, and returns the body.
    pub(crate) async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        client: (&str, &str),
        auth: ClientAuth,
    ) -> Result<Vec<u8>, FetchError> {
        let (id, secret) = client;
        let mut form: Vec<(&str, &str)> = form.to_vec();
        let mut request = self.client.post(url).header("accept", "application/json");
        match auth {
            ClientAuth::Basic => {
                // RFC 6749 §2.3.1: id and secret are form-encoded before Basic.
                let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                let pair = format!("{}:{}", encode(id), encode(secret));
                let value = base64::engine::general_purpose::STANDARD.encode(pair);
                request = request.header("authorization", format!("Basic {value}"));
            }
            ClientAuth::Post => form.extend([("client_id", id), ("client_secret", secret)]),
        }
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let response =
            request.header("content-type", "application/x-www-form-urlencoded").body(body).send().await?;
        self.body(response).await
    }

    async fn body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, FetchError> {
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        if response.content_length().is_some_and(|len| len > self.max_bytes as u64) {
            return Err(FetchError::TooLarge(self.max_bytes));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(FetchError::TooLarge(self.max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Resolves `jwks_uri` from `{issuer_url}/.well-known/openid-configuration`
    /// (OpenID Connect Discovery 1.0 §4), checking that the document speaks for
    /// `expected_issuer` and that its `jwks_uri` obeys the same URL policy.
    pub(crate) async fn discover(
        &self,
        issuer_url: &str,
        expected_issuer: &str,
    ) -> Result<String, FetchError> {
        self.discover_url(issuer_url, expected_issuer, Discovered::JwksUri).await
    }

    /// Resolves the URL `what` names from the issuer's metadata. The OpenID
    /// document comes first; for the introspection endpoint an issuer without
    /// one (404) is asked for its RFC 8414 document instead.
    pub(crate) async fn discover_url(
        &self,
        issuer_url: &str,
        expected_issuer: &str,
        what: Discovered,
    ) -> Result<String, FetchError> {
        let base = issuer_url.trim_end_matches('/');
        let body = match self.get(&format!("{base}/.well-known/openid-configuration")).await {
            Err(FetchError::Status(404)) if what == Discovered::IntrospectionEndpoint => {
                self.get(&format!("{base}/.well-known/oauth-authorization-server")).await?
            }
            other => other?,
        };
        let document: DiscoveryDocument = serde_json::from_slice(&body).map_err(FetchError::Discovery)?;
        if document.issuer != expected_issuer {
            return Err(FetchError::DiscoveryIssuer {
                found: document.issuer,
                expected: expected_issuer.to_owned(),
            });
        }
        let member = what.member();
        let url = match what {
            Discovered::JwksUri => document.jwks_uri,
            Discovered::IntrospectionEndpoint => document.introspection_endpoint,
        }
        .ok_or(FetchError::DiscoveryMissing(member))?;
        check_url(&url, self.allow_http).map_err(|source| FetchError::DiscoveredUrl {
            member,
            uri: url.clone(),
            source,
        })?;
        Ok(url)
    }
}
