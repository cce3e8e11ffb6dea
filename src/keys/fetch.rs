//! HTTP fetching of JWKS and OIDC discovery documents: rustls, connect and
//! total timeouts, no redirects, a size cap, and JSON checks.

use std::time::Duration;

use serde::Deserialize;

/// Why one fetch failed. `outcome()` is the metrics label.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("request timed out")]
    Timeout,
    #[error("request failed: {0}")]
    Http(reqwest::Error),
    #[error("unexpected HTTP status {0}")]
    Status(u16),
    #[error("response is larger than {0} bytes")]
    TooLarge(usize),
    #[error("invalid JWKS: {0}")]
    Jwks(#[from] super::jwk::JwksError),
    #[error("invalid discovery document: {0}")]
    Discovery(String),
    #[error("{0}")]
    Url(String),
}

impl FetchError {
    /// Closed set of labels for `gatehouse_jwks_fetch_total{outcome}`.
    pub fn outcome(&self) -> &'static str {
        match self {
            FetchError::Timeout => "timeout",
            FetchError::Http(_) => "http_error",
            FetchError::Status(_) => "bad_status",
            FetchError::TooLarge(_) => "too_large",
            FetchError::Jwks(_) => "invalid_jwks",
            FetchError::Discovery(_) | FetchError::Url(_) => "discovery_error",
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
pub struct Fetcher {
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
    pub fn new(timeout: Duration, max_bytes: usize, allow_http: bool) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            // A redirect could lead off the configured host; keys come only from where config says.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { client, max_bytes, allow_http })
    }

    /// GETs `url` and returns the body, refusing non-2xx and oversized bodies.
    pub async fn get(&self, url: &str) -> Result<Vec<u8>, FetchError> {
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
    pub async fn discover(&self, issuer_url: &str, expected_issuer: &str) -> Result<String, FetchError> {
        let url = format!("{}/.well-known/openid-configuration", issuer_url.trim_end_matches('/'));
        let body = self.get(&url).await?;
        let document: DiscoveryDocument =
            serde_json::from_slice(&body).map_err(|e| FetchError::Discovery(e.to_string()))?;
        if document.issuer != expected_issuer {
            return Err(FetchError::Discovery(format!(
                "issuer `{}` does not match the provider's `{expected_issuer}`",
                document.issuer
            )));
        }
        crate::config::check_fetch_url(&document.jwks_uri, self.allow_http)
            .map_err(|e| FetchError::Url(format!("jwks_uri {}: {e}", document.jwks_uri)))?;
        Ok(document.jwks_uri)
    }
}
