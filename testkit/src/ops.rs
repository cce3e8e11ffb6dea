//! gatehouse's operations endpoints as a test reads them: `/readyz` until it
//! says what the test waits for, `/metrics` series by their exact name.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How often the waits below poll.
const POLL: Duration = Duration::from_millis(20);

/// `GET http://{addr}{path}` with an optional `Accept`: (status, content type, body).
pub async fn get(addr: SocketAddr, path: &str, accept: Option<&str>) -> (u16, String, String) {
    let mut request = reqwest::Client::new().get(format!("http://{addr}{path}"));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("GET {addr}{path}: {e}"));
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (status, content_type, response.text().await.expect("a body"))
}

/// `/readyz`: its status and JSON body.
pub async fn readyz(addr: SocketAddr) -> (u16, Value) {
    let (status, _, body) = get(addr, "/readyz", None).await;
    (status, serde_json::from_str(&body).unwrap_or_else(|e| panic!("/readyz body is not JSON ({e}): {body}")))
}

/// Polls `/readyz` until it answers `want`; returns the body.
pub async fn wait_readyz(addr: SocketAddr, want: u16, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = readyz(addr).await;
        if status == want {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz not {want} within {within:?}: last answer {status} {body}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// The `/metrics` text (Prometheus 0.0.4).
pub async fn metrics(addr: SocketAddr) -> String {
    let (status, _, text) = get(addr, "/metrics", None).await;
    assert_eq!(status, 200, "{text}");
    text
}

/// The value of one series (`name{labels}` exactly as exposed) in a text exposition.
pub fn metric_in(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse().unwrap_or_else(|_| panic!("bad value for {series}: {value}")))
}

/// Sum of every sample of `name` whose labels contain all of `labels`.
pub fn sum_metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(name) && line[name.len()..].starts_with(['{', ' ']))
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// One series of `/metrics` now.
pub async fn metric(addr: SocketAddr, series: &str) -> Option<f64> {
    metric_in(&metrics(addr).await, series)
}

/// Polls `/metrics` until `series` is at least `n`; returns its value.
pub async fn wait_metric(addr: SocketAddr, series: &str, n: f64, within: Duration) -> f64 {
    wait_metric_until(addr, series, |value| value >= n, &format!("at least {n}"), within).await
}

/// Polls `/metrics` until `series` is `want` (a missing series counts as 0).
pub async fn wait_metric_eq(addr: SocketAddr, series: &str, want: f64, within: Duration) -> f64 {
    wait_metric_until(addr, series, |value| value == want, &want.to_string(), within).await
}

async fn wait_metric_until(
    addr: SocketAddr,
    series: &str,
    done: impl Fn(f64) -> bool,
    expected: &str,
    within: Duration,
) -> f64 {
    let deadline = Instant::now() + within;
    loop {
        let value = metric(addr, series).await.unwrap_or(0.0);
        if done(value) {
            return value;
        }
        assert!(Instant::now() < deadline, "{series} is {value} after {within:?}, expected {expected}");
        tokio::time::sleep(POLL).await;
    }
}
