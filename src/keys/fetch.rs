//! HTTP fetching of JWKS and OIDC discovery documents: rustls, connect and
//! total timeouts, no redirects, a size cap, JSON checks, and the URL policy
//! that decides which key locations are acceptable at all.

use std::net::IpAddr;
use std::time::Duration;

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
    #[error("discovered jwks_uri {uri}: {source}")]
    JwksUri { uri: String, source: UrlError },
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
            FetchError::Discovery(_) | FetchError::DiscoveryIssuer { .. } | FetchError::JwksUri { .. } => {
                "discovery_error"
            }
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

#[derive(Deserialize)]
struct DiscoveryDocument {
    issuer: String,
    jwks_uri: String,
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
        let mut response = self.client.get(url).header("accept", "application/json").send().await?;
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
        let url = format!("{}/.well-known/openid-configuration", issuer_url.trim_end_matches('/'));
        let body = self.get(&url).await?;
        let document: DiscoveryDocument = serde_json::from_slice(&body).map_err(FetchError::Discovery)?;
        if document.issuer != expected_issuer {
            return Err(FetchError::DiscoveryIssuer {
                found: document.issuer,
                expected: expected_issuer.to_owned(),
            });
        }
        check_url(&document.jwks_uri, self.allow_http)
            .map_err(|source| FetchError::JwksUri { uri: document.jwks_uri.clone(), source })?;
        Ok(document.jwks_uri)
    }
}
