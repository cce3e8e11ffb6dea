//! [`Revocations`]: the entries this replica knows (from the Redis stream
//! and the watched file) and the [`RevocationSet`] built from them, which the
//! Check path reads with one atomic load.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;

use super::entry::Revocation;
use super::metrics::RevocationMetrics;
use super::set::RevocationSet;
use crate::clock::unix_now;

/// Where an entry came from, and its place there: a Redis stream id
/// (milliseconds, sequence), or a line of the watched file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum EntryKey {
    Stream(u64, u64),
    File(usize),
}

impl EntryKey {
    /// A Redis stream id (`1700000000000-0`).
    pub(crate) fn parse_stream_id(id: &str) -> Option<Self> {
        let (ms, seq) = id.split_once('-')?;
        Some(EntryKey::Stream(ms.parse().ok()?, seq.parse().ok()?))
    }
}

impl std::fmt::Display for EntryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EntryKey::Stream(ms, seq) => write!(f, "{ms}-{seq}"),
            EntryKey::File(line) => write!(f, "file:{line}"),
        }
    }
}

/// The revocations of this replica.
pub(crate) struct Revocations {
    current: ArcSwap<RevocationSet>,
    entries: Mutex<BTreeMap<EntryKey, Revocation>>,
    /// Set once the Redis stream has been read to its end (or when there is no Redis).
    synced: AtomicBool,
    /// The earliest `expires_at` among the entries (`u64::MAX` with none):
    /// until then a purge has nothing to do.
    next_expiry: AtomicU64,
    metrics: Arc<RevocationMetrics>,
}

impl Revocations {
    pub(crate) fn new(metrics: Arc<RevocationMetrics>, synced: bool) -> Self {
        metrics.count(std::iter::empty());
        Self {
            current: ArcSwap::from_pointee(RevocationSet::default()),
            entries: Mutex::new(BTreeMap::new()),
            synced: AtomicBool::new(synced),
            next_expiry: AtomicU64::new(u64::MAX),
            metrics,
        }
    }

    /// The set in force: one atomic load, no lock, no I/O.
    pub(crate) fn current(&self) -> arc_swap::Guard<Arc<RevocationSet>> {
        self.current.load()
    }

    /// Adds (or replaces) entries and publishes the new set.
    pub(crate) fn apply(&self, batch: impl IntoIterator<Item = (EntryKey, Revocation)>) {
        let mut entries = self.lock();
        for (key, entry) in batch {
            entries.insert(key, entry);
        }
        self.publish(&mut entries);
        self.metrics.applied();
    }

    /// Replaces every entry of the watched file with `file_entries`.
    pub(crate) fn replace_file_entries(&self, file_entries: Vec<Revocation>) {
        let mut entries = self.lock();
        entries.retain(|key, _| !matches!(key, EntryKey::File(_)));
        entries.extend(file_entries.into_iter().enumerate().map(|(i, e)| (EntryKey::File(i), e)));
        self.publish(&mut entries);
        self.metrics.applied();
    }

    /// Drops the entries that expired, if any did, and publishes what is left.
    pub(crate) fn purge_expired(&self) {
        if unix_now() < self.next_expiry.load(Ordering::Acquire) {
            return;
        }
        let mut entries = self.lock();
        self.publish(&mut entries);
    }

    /// Every live entry with its key, oldest first.
    pub(crate) fn live_entries(&self) -> Vec<(EntryKey, Revocation)> {
        let now = unix_now();
        self.lock().iter().filter(|(_, e)| e.is_live(now)).map(|(k, e)| (*k, e.clone())).collect()
    }

    /// The oldest stream entry still live: every stream entry before it has
    /// expired and may be trimmed.
    pub(crate) fn oldest_live_stream_entry(&self) -> Option<EntryKey> {
        let now = unix_now();
        let entries = self.lock();
        entries.iter().find(|(k, e)| matches!(k, EntryKey::Stream(..)) && e.is_live(now)).map(|(k, _)| *k)
    }

    pub(crate) fn mark_synced(&self) {
        self.synced.store(true, Ordering::Release);
    }

    /// The stream has been read to its end since start (always true without Redis).
    pub(crate) fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    pub(crate) fn metrics(&self) -> &RevocationMetrics {
        &self.metrics
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<EntryKey, Revocation>> {
        // The map stays consistent even if a holder panicked: take it.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops expired entries, builds the set from the rest, swaps it in.
    fn publish(&self, entries: &mut BTreeMap<EntryKey, Revocation>) {
        let now = unix_now();
        entries.retain(|_, entry| entry.is_live(now));
        let next = entries.values().map(|e| e.expires_at).min().unwrap_or(u64::MAX);
        self.next_expiry.store(next, Ordering::Release);
        self.metrics.count(entries.values());
        self.current.store(Arc::new(RevocationSet::build(entries.values(), now)));
    }
}
