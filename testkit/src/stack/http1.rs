//! What a client sees through Envoy: answers as [`Reply`]s, sent by
//! reqwest or written byte for byte over HTTP/1.1 ([`Front::raw`]).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One answer as the client saw it. Header names are lower-case.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as JSON (panics with the body if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {self:?}"))
    }

    /// `error` of a gatehouse deny body.
    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_else(|| panic!("no `error` in the body: {self:?}")).to_owned()
    }

    /// True if the echo upstream wrote this body.
    pub fn is_from_upstream(&self) -> bool {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .is_ok_and(|v| v.get("method").is_some() && v.get("headers").is_some())
    }
}

/// The request headers the echo upstream received, from its answer body
/// (panics if the body is not the echo's JSON). Repeated headers are arrays.
pub fn upstream_saw(body: &str) -> serde_json::Value {
    let value: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not the echo upstream's JSON ({e}): {body}"));
    value.get("headers").cloned().unwrap_or_else(|| panic!("no `headers` in the echo answer: {body}"))
}

/// The path (with query) the echo upstream received.
pub fn upstream_path(body: &str) -> String {
    let value: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not the echo upstream's JSON ({e}): {body}"));
    value["path"].as_str().unwrap_or_else(|| panic!("no `path` in the echo answer: {body}")).to_owned()
}

/// A cheap, cloneable HTTP/1.1 client for Envoy's listener (for background tasks).
#[derive(Clone)]
pub struct Front {
    pub(crate) client: reqwest::Client,
    pub(crate) listener: SocketAddr,
}

impl Front {
    /// `method path` through Envoy with reqwest (HTTP/1.1, no redirects). The
    /// URL is normalized by reqwest; use [`Front::raw`] for exact targets.
    pub async fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("valid method");
        let mut request = self.client.request(method, format!("http://{}{path}", self.listener));
        for (name, value) in headers {
            request = request.header(*name, *value); // appends: repeated names are sent twice
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("request {path} through Envoy: {e}"));
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let body = response.text().await.unwrap_or_else(|e| panic!("reading the body of {path}: {e}"));
        Reply { status, headers, body }
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.request("GET", path, headers).await
    }

    /// Sends `method target` byte for byte (no URL normalization, header names
    /// as written) over a fresh connection with `Connection: close`.
    pub async fn raw(&self, method: &str, target: &str, headers: &[(&str, &str)]) -> Reply {
        raw_request(self.listener, method, target, headers).await
    }
}

/// `method target` to `addr`, byte for byte (no URL normalization, header
/// names as written, `host: <addr>` first), over a fresh connection with
/// `Connection: close`; panics if no complete answer comes within 10 s.
pub async fn raw_request(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = format!("{method} {target} HTTP/1.1\r\nhost: {addr}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("connection: close\r\n\r\n");
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    let answer = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .unwrap_or_else(|_| panic!("raw {method} {target}: no answer within 10s"))
        .unwrap_or_else(|e| panic!("raw {method} {target}: {e}"));
    parse_http1(&answer, true).unwrap_or_else(|| {
        panic!("raw {method} {target}: unparsable answer: {}", String::from_utf8_lossy(&answer))
    })
}

/// A complete HTTP/1.1 response (`None` while the head or the body, per
/// `content-length` or chunked framing, is incomplete; a body framed by the
/// end of the connection is complete only at `eof`).
pub fn parse_http1(bytes: &[u8], eof: bool) -> Option<Reply> {
    let split = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..split]).ok()?;
    let mut body = bytes[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        body = dechunk(&body)?;
    } else if let Some(length) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        if body.len() < length {
            return None;
        }
        body.truncate(length);
    } else if !eof {
        return None;
    }
    Some(Reply { status, headers, body: String::from_utf8_lossy(&body).into_owned() })
}

fn dechunk(mut bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = bytes.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&bytes[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        bytes = &bytes[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(bytes.get(..size)?);
        bytes = bytes.get(size + 2..)?;
    }
}
