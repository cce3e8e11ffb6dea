//! The configuration in force, as the servers read it: one snapshot per
//! Check, swapped whole by a reload.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::authz::Policy;

/// What one Check runs on: the policy and the settings around its decision.
pub(crate) struct Snapshot {
    pub(crate) policy: Policy,
    /// Log every decision at `info` rather than `debug` (`decision_log`).
    pub(crate) decision_log: bool,
}

impl Snapshot {
    pub(crate) fn new(policy: Policy, decision_log: bool) -> Self {
        Self { policy, decision_log }
    }
}

/// The snapshot in force. Swapping it (a reload) never blocks a Check, and a
/// Check in flight finishes on the snapshot it started with.
pub(crate) struct Live(ArcSwap<Snapshot>);

impl Live {
    pub(crate) fn new(snapshot: Snapshot) -> Self {
        Self(ArcSwap::from_pointee(snapshot))
    }

    /// The snapshot in force now.
    pub(crate) fn load(&self) -> Arc<Snapshot> {
        self.0.load_full()
    }

    /// Makes `snapshot` the one in force: one atomic pointer store.
    pub(crate) fn replace(&self, snapshot: Snapshot) {
        self.0.store(Arc::new(snapshot));
    }
}
