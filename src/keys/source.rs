//! The [`KeySource`] trait: how the Check path reads a provider's keys
//! without ever waiting on I/O, and asks for a refresh when a token names a
//! key it has not seen.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::key::KeySet;

/// A boxed future, so that `KeySource` stays object-safe.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The keys of one provider.
pub trait KeySource: Send + Sync + 'static {
    /// The current key set, or `None` while none has been loaded (or the last
    /// good one has gone stale). Never blocks and never does I/O.
    fn current(&self) -> Option<Arc<KeySet>>;

    /// A token named a `kid` that [`current`](Self::current) lacks. Sources
    /// that can fetch try once (rate-limited and shared between callers) and
    /// resolve to `true` if a new key set was loaded. The refresh starts
    /// when this is called and does not depend on the future being polled:
    /// callers may wait for it only briefly, or not at all, and it still
    /// loads the key for later Checks. Default: nothing to do.
    fn refresh_for_unknown_kid(&self) -> BoxFuture<'_, bool> {
        Box::pin(std::future::ready(false))
    }

    /// True while a source that loads asynchronously has not loaded its first
    /// key set and its start-up window has not passed: `/readyz` waits for it.
    fn awaiting_first_keys(&self) -> bool {
        false
    }

    /// Short name of the kind of source, for logs (`inline`, `file`, `remote`).
    fn kind(&self) -> &'static str;
}

/// Keys fixed at load time: an inline JWKS or an HMAC secret.
pub struct StaticKeys {
    keys: Arc<KeySet>,
    kind: &'static str,
}

impl StaticKeys {
    pub fn new(keys: KeySet, kind: &'static str) -> Self {
        Self::shared(Arc::new(keys), kind)
    }

    /// A source over a key set that is already shared (an inline JWKS parsed with the config).
    pub(crate) fn shared(keys: Arc<KeySet>, kind: &'static str) -> Self {
        Self { keys, kind }
    }
}

impl KeySource for StaticKeys {
    fn current(&self) -> Option<Arc<KeySet>> {
        Some(self.keys.clone())
    }

    fn kind(&self) -> &'static str {
        self.kind
    }
}
