//! `gatehouse revoke`: calls the admin API of a running gatehouse to revoke
//! a token (`--jti`), a session (`--sid`), a user's tokens issued before a
//! time (`--sub`), every token of an issuer (`--everyone`), or to list the
//! live revocations (`--list`).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

/// Arguments of `gatehouse revoke`.
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["jti", "sub", "sid", "everyone", "list"])))]
pub(crate) struct RevokeArgs {
    /// The admin listener (`revocation.admin.addr`).
    #[arg(long, default_value = "http://127.0.0.1:9002")]
    addr: String,
    /// The provider's issuer.
    #[arg(long, required_unless_present = "list")]
    issuer: Option<String>,
    /// Revoke one token, by its `jti`.
    #[arg(long)]
    jti: Option<String>,
    /// Revoke a subject's tokens issued before `--issued-before` (default: now).
    #[arg(long)]
    sub: Option<String>,
    /// Revoke an OpenID Connect session, by its `sid`.
    #[arg(long)]
    sid: Option<String>,
    /// Revoke every token of the issuer issued before `--issued-before`.
    #[arg(long, requires = "issued_before")]
    everyone: bool,
    /// Unix seconds: the cut-off of `--sub` or `--everyone`.
    #[arg(long)]
    issued_before: Option<u64>,
    /// Unix seconds: when the entry ends (default: when no token it covers can still be accepted).
    #[arg(long)]
    expires_at: Option<u64>,
    /// List the live revocations instead.
    #[arg(long)]
    list: bool,
    /// A file holding the admin token (else the environment variable `GATEHOUSE_ADMIN_TOKEN`).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
}

/// Sends the request; the answer's JSON, or an error with the status and reason.
pub(crate) async fn run(args: &RevokeArgs) -> anyhow::Result<String> {
    let token = match &args.token_file {
        Some(path) => std::fs::read_to_string(path)?.trim_end().to_owned(),
        None => std::env::var("GATEHOUSE_ADMIN_TOKEN")
            .map_err(|_| anyhow::anyhow!("set GATEHOUSE_ADMIN_TOKEN or --token-file"))?,
    };
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let url = format!("{}/v1/revocations", args.addr.trim_end_matches('/'));
    let request = if args.list {
        client.get(url)
    } else {
        client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body(args).to_string())
    };
    let response = request.bearer_auth(token).send().await?;
    let status = response.status();
    let text: String = response.text().await?;
    let pretty = serde_json::from_str::<Value>(&text).map_or(text, |v| format!("{v:#}"));
    anyhow::ensure!(status.is_success(), "{status}: {pretty}");
    Ok(format!("{pretty}\n"))
}

fn body(args: &RevokeArgs) -> Value {
    let mut body = json!({ "issuer": args.issuer });
    let fields = [("jti", &args.jti), ("sub", &args.sub), ("sid", &args.sid)];
    for (name, value) in fields {
        if let Some(value) = value {
            body[name] = json!(value);
        }
    }
    if let Some(issued_before) = args.issued_before {
        body["issued_before"] = json!(issued_before);
    }
    if let Some(expires_at) = args.expires_at {
        body["expires_at"] = json!(expires_at);
    }
    body
}
