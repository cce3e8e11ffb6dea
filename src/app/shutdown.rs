//! Shutting down in the order load balancers need: not ready at once, stop
//! accepting after `server.shutdown_delay`, then give in-flight Checks
//! `server.drain_timeout`.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// The shutdown sequence of one running server.
#[derive(Clone)]
pub(crate) struct Shutdown {
    /// Set as soon as shutdown begins: readiness reads it.
    begun: Arc<AtomicBool>,
    /// Flips to `true` when the listeners must stop accepting.
    stop: watch::Receiver<bool>,
}

impl Shutdown {
    /// Begins shutting down when `signal` resolves: sets the flag, runs
    /// `on_begin` (health goes NOT_SERVING), and after `delay` tells the
    /// listeners to stop.
    pub(crate) fn after<F>(
        signal: impl Future<Output = ()> + Send + 'static,
        delay: Duration,
        on_begin: F,
    ) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let begun = Arc::new(AtomicBool::new(false));
        let (stop_tx, stop) = watch::channel(false);
        let flag = begun.clone();
        tokio::spawn(async move {
            signal.await;
            flag.store(true, Ordering::Release);
            on_begin.await;
            tracing::info!(?delay, "shutting down: not ready; draining after the delay");
            tokio::time::sleep(delay).await;
            let _ = stop_tx.send(true);
        });
        Self { begun, stop }
    }

    /// The flag readiness reads.
    pub(crate) fn begun(&self) -> Arc<AtomicBool> {
        self.begun.clone()
    }

    /// Resolves when the listeners must stop accepting.
    pub(crate) async fn stopped(self) {
        let mut stop = self.stop;
        let _ = stop.wait_for(|stop| *stop).await;
    }

    /// Resolves `drain` after the listeners stopped: when in-flight Checks
    /// have had their time.
    pub(crate) async fn drained(self, drain: Duration) {
        self.stopped().await;
        tokio::time::sleep(drain).await;
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub(crate) async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
