//! `gatehouse explain`: decides one simulated request against a config file,
//! offline, through the same code as a live Check (CheckRequest →
//! `Authorizer::check` → CheckResponse), and says which rule decided.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use prometheus_client::registry::Registry;

use crate::authz::{Authorizer, Decision, Policy};
use crate::dev::{build_request, render, RequestArgs};
use crate::server::grpc::{to_check_response, to_http_request};
use crate::telemetry::KeyMetrics;

/// Arguments of `gatehouse explain`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExplainArgs {
    /// Configuration file (YAML).
    #[arg(long, short, env = "GATEHOUSE_CONFIG")]
    pub config: PathBuf,
    #[command(flatten)]
    pub request: RequestArgs,
}

/// How long to wait for remote providers' first keys.
const KEY_WAIT: Duration = Duration::from_secs(10);

/// Runs the decision and returns the report.
pub async fn run(args: &ExplainArgs) -> anyhow::Result<String> {
    let config = crate::config::load_file(&args.config)?;
    let metrics = Arc::new(KeyMetrics::register(&mut Registry::default()));
    let sources = crate::app::build_key_sources(&config, &metrics)?;
    let deadline = tokio::time::Instant::now() + KEY_WAIT;
    while sources.iter().any(|s| s.awaiting_first_keys()) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let authorizer = Authorizer::new(Policy::compile(&config, sources).context("compiling rules")?);
    let check = build_request(&args.request)?;
    let http = check.attributes.as_ref().and_then(|a| a.request.as_ref()).and_then(|r| r.http.as_ref());
    let Some(http) = http else { anyhow::bail!("the simulated request has no HTTP attributes") };
    let decision = authorizer.check(&to_http_request(&check, http)).await;
    Ok(format!("{}{}", summary(&decision), render(&to_check_response(&decision))))
}

fn summary(decision: &Decision) -> String {
    match decision {
        Decision::Allow(allow) => format!(
            "rule:     {}\nprovider: {}\nreason:   allowed\n",
            allow.rule,
            allow.provider.as_deref().unwrap_or("(anonymous)")
        ),
        Decision::Deny(deny) => format!(
            "rule:     {}\nprovider: {}\nreason:   {} ({})\n",
            deny.rule.as_deref().unwrap_or("(none)"),
            deny.provider.as_deref().unwrap_or("-"),
            deny.reason.as_str(),
            deny.reason.description()
        ),
    }
}
