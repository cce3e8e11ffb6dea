//! `gatehouse explain`: decides one simulated request against a config file,
//! offline, through the same code as a live Check (CheckRequest → the
//! server's `decide` → CheckResponse), and says which rule decided.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;

use crate::authz::{Authorizer, Decision, Policy};
use crate::dev::{build_request, render, RequestArgs};
use crate::keys::{self, KeyMetrics};
use crate::revocation::{RevocationMetrics, RevocationService};
use crate::server::{decide, to_check_response};

/// Arguments of `gatehouse explain`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ExplainArgs {
    /// Configuration file (YAML).
    #[arg(long, short, env = "GATEHOUSE_CONFIG")]
    config: PathBuf,
    #[command(flatten)]
    request: RequestArgs,
}

/// How long to wait for remote providers' first keys and the revocation stream.
const KEY_WAIT: Duration = Duration::from_secs(10);

/// Runs the decision and returns the report.
pub(crate) async fn run(args: &ExplainArgs) -> anyhow::Result<String> {
    let specs = crate::config::load_file(&args.config)?;
    let metrics = Arc::new(KeyMetrics::register(&mut Registry::default()));
    let sources = keys::start_all(&specs.keys, &metrics)?;
    let deadline = tokio::time::Instant::now() + KEY_WAIT;
    while sources.iter().any(|s| s.jws.awaiting_first_keys()) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let revocations = match specs.revocation {
        Some(spec) => {
            let metrics = Arc::new(RevocationMetrics::register(&mut Registry::default(), Default::default()));
            let service = RevocationService::start(spec, metrics)?;
            // The revocations in force: the file, and the whole stream when Redis answers in time.
            while service.starting() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Some(service.revocations().clone())
        }
        None => None,
    };
    let policy = Policy::compile(specs.policy, sources, revocations);
    let decision = decide(&Authorizer::new(), &policy, &build_request(&args.request)?).await;
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
