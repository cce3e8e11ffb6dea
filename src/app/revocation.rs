//! Wiring of revocations: the store and its sources, and the admin listener.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::authz::PolicySpec;
use crate::config::AdminSettings;
use crate::revocation::{RevocationMetrics, RevocationService, RevocationSpec};
use crate::server::{AdminState, Live};

/// Starts revocations when the config has them: reads the file, begins
/// following the Redis stream.
pub(super) fn start(
    spec: Option<RevocationSpec>,
    policy: &PolicySpec,
    registry: &mut Registry,
) -> anyhow::Result<Option<Arc<RevocationService>>> {
    let Some(spec) = spec else { return Ok(None) };
    let providers: HashMap<String, String> =
        policy.providers.iter().map(|p| (p.validation.issuer.clone(), p.name.to_string())).collect();
    let metrics = Arc::new(RevocationMetrics::register(registry, providers));
    Ok(Some(Arc::new(RevocationService::start(spec, metrics).context("revocation")?)))
}

/// The admin listener, bound, with what it serves.
pub(super) struct Admin {
    pub(super) listener: TcpListener,
    pub(super) state: AdminState,
    pub(super) max_body_bytes: usize,
}

/// Binds the admin listener when configured (config validation has made
/// sure revocations, with Redis, are then running).
pub(super) async fn bind_admin(
    settings: Option<AdminSettings>,
    live: &Arc<Live>,
    revocations: Option<&Arc<RevocationService>>,
) -> anyhow::Result<Option<Admin>> {
    let (Some(settings), Some(revocations)) = (settings, revocations) else { return Ok(None) };
    let token = settings.token.read().context("revocation.admin.token")?;
    anyhow::ensure!(token.len() >= 16, "revocation.admin.token: use at least 16 characters");
    let listener = TcpListener::bind(settings.addr)
        .await
        .with_context(|| format!("binding revocation.admin.addr {}", settings.addr))?;
    let state = AdminState { live: live.clone(), revocations: revocations.clone(), token: Arc::from(token) };
    Ok(Some(Admin { listener, state, max_body_bytes: settings.max_body_bytes }))
}
