//! The verified-token cache: a token's signature and registered claims are
//! checked once; later requests with the same token and provider reuse the
//! result. Rules and requirements still run on every request (they differ by
//! route).
//!
//! - Key: SHA-256 of the token bytes plus the provider, so a hit is an exact
//!   byte match of a token that verified, never a guess.
//! - An entry lives until the token's `exp` minus the provider's clock skew, or
//!   `cache.max_ttl`, whichever is first; a token without `exp` gets `max_ttl`.
//! - An entry is dropped on use when the key that verified it is no longer in
//!   the provider's key set (rotated out or revoked), or its API key is no
//!   longer in the provider's file; an introspected token's entry lives no
//!   longer than its introspection answer (`cache_ttl`).
//! - Only successes are cached: a flood of bad tokens cannot evict good entries
//!   or fill the cache.
//! - Bounded twice: at most `cache.max_entries` tokens and at most
//!   `cache.max_bytes` by an estimate of each entry's memory, so a cache of
//!   large tokens cannot grow past its budget.

use std::sync::Arc;
use std::time::Duration;

mod metrics;

pub(crate) use metrics::{CacheMetrics, CacheMetricsHandle};

use super::jwt::{Origin, VerifiedToken};
use super::policy::{Provider, ProviderId};

// Memory estimate of an entry, calibrated with `examples/rss_tokens.rs`
// (RSS growth per cached token, mimalloc): a token keeping `sub`, `iss` and
// `scope` of its 12 claims, with one identity header, measures ≈975 bytes;
// the estimate (≈1,070) errs high.

/// Bytes of one entry besides its claims: moka's bookkeeping (key, entry,
/// access and expiry order nodes), the `VerifiedToken` and its `Arc`.
const ENTRY_OVERHEAD_BYTES: u64 = 640;
/// Bytes per kept JSON value beyond its text: its slot, the name's and the
/// value's heap allocations (more inside nested objects, less at the top).
const BYTES_PER_CLAIM_VALUE: u64 = 96;

/// How the cache is bounded (`cache`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CacheSettings {
    /// Most tokens held.
    pub(crate) max_entries: u64,
    /// Most memory the entries may take, by each entry's estimated size.
    pub(crate) max_bytes: u64,
    /// Longest an entry lives.
    pub(crate) max_ttl: Duration,
    /// Where the cache reports (the process's registered set, once `app` attaches it).
    pub(crate) metrics: CacheMetricsHandle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct CacheKey {
    digest: [u8; 32],
    provider: ProviderId,
}

#[derive(Clone)]
struct Entry {
    token: Arc<VerifiedToken>,
    /// Absolute expiry of the entry, seconds since the epoch (checked on use).
    expires_at: f64,
    /// The same as a lifetime, for the cache's own eviction.
    lifetime: Duration,
}

/// Per-entry lifetime from `expires_at`.
struct ExpireAtTokenExpiry;

impl moka::Expiry<CacheKey, Entry> for ExpireAtTokenExpiry {
    fn expire_after_create(
        &self,
        _key: &CacheKey,
        entry: &Entry,
        _created: std::time::Instant,
    ) -> Option<Duration> {
        Some(entry.lifetime)
    }
}

/// The memory one cached token is estimated to take.
fn estimated_bytes(token: &VerifiedToken) -> u64 {
    let mut size = ClaimsSize::default();
    for (name, value) in token.claims.iter() {
        size.text_bytes += name.len() as u64;
        size.add(value);
    }
    let copy = token.payload_b64.as_ref().map_or(0, |p| p.len() as u64);
    // The identity headers rendered for it: a slot and a value each.
    let identity: u64 = token.identity.set.iter().map(|(_, value)| 48 + value.len() as u64).sum();
    ENTRY_OVERHEAD_BYTES + size.values * BYTES_PER_CLAIM_VALUE + size.text_bytes + copy + identity
}

/// How many JSON values a claims map holds and how many bytes of text (keys
/// and strings) they carry.
#[derive(Default)]
struct ClaimsSize {
    values: u64,
    text_bytes: u64,
}

impl ClaimsSize {
    fn add_map(&mut self, map: &serde_json::Map<String, serde_json::Value>) {
        for (key, value) in map {
            self.text_bytes += key.len() as u64;
            self.add(value);
        }
    }

    fn add(&mut self, value: &serde_json::Value) {
        use serde_json::Value;
        self.values += 1;
        match value {
            Value::String(text) => self.text_bytes += text.len() as u64,
            Value::Array(items) => items.iter().for_each(|item| self.add(item)),
            Value::Object(map) => self.add_map(map),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

/// True while what verified `token` still stands: the key that signed it
/// is still published, or its API-key entry is still in the file. An
/// introspection answer stands until its entry expires.
fn still_published(token: &VerifiedToken, provider: &Provider) -> bool {
    match token.origin {
        Origin::Signature(_) => {
            provider.keys.current().is_some_and(|keys| keys.contains_fingerprint(token.key_fingerprint))
        }
        Origin::Introspection => true,
        Origin::ApiKey => provider
            .api_keys
            .as_ref()
            .is_some_and(|keys| keys.current().contains_fingerprint(token.key_fingerprint)),
    }
}

/// A bounded cache of verified tokens for one policy.
pub(crate) struct TokenCache {
    entries: moka::sync::Cache<CacheKey, Entry>,
    max_ttl: f64,
    metrics: Arc<CacheMetrics>,
    weigher: Weigher,
}

/// An entry's weight against `max_bytes`: its estimated size, and at least
/// its share of the budget, so the entry count never exceeds `max_entries`
/// either (capacity is in bytes).
#[derive(Clone, Copy)]
struct Weigher {
    min_weight: u64,
}

impl Weigher {
    fn weigh(self, entry: &Entry) -> u32 {
        u32::try_from(estimated_bytes(&entry.token).max(self.min_weight)).unwrap_or(u32::MAX)
    }
}

/// The SHA-256 of a token, computed once per request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokenDigest([u8; 32]);

impl TokenDigest {
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub(crate) fn of(token: &str) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        Self(bytes)
    }
}

impl TokenCache {
    pub(crate) fn new(settings: CacheSettings) -> Self {
        let weigher = Weigher { min_weight: settings.max_bytes.div_ceil(settings.max_entries.max(1)) };
        let metrics = settings.metrics.0;
        let listener = metrics.clone();
        let entries = moka::sync::Cache::builder()
            .max_capacity(settings.max_bytes)
            .weigher(move |_key: &CacheKey, entry: &Entry| weigher.weigh(entry))
            .expire_after(ExpireAtTokenExpiry)
            .eviction_listener(move |_key, entry: Entry, cause| {
                listener.removed(weigher.weigh(&entry), cause)
            })
            .build();
        Self { entries, max_ttl: settings.max_ttl.as_secs_f64(), metrics, weigher }
    }

    /// A cached verification of this token by `provider`, if it is still
    /// good: unexpired and made by a key still published.
    pub(crate) fn get(
        &self,
        digest: TokenDigest,
        provider: &Provider,
        now: u64,
    ) -> Option<Arc<VerifiedToken>> {
        let key = CacheKey { digest: digest.0, provider: provider.id };
        let entry = self.entries.get(&key)?;
        let still_valid = (now as f64) < entry.expires_at && still_published(&entry.token, provider);
        if still_valid {
            Some(entry.token)
        } else {
            self.entries.invalidate(&key);
            None
        }
    }

    /// Remembers a successful verification by `provider` made at `now`.
    pub(crate) fn insert(
        &self,
        digest: TokenDigest,
        provider: &Provider,
        token: Arc<VerifiedToken>,
        now: u64,
    ) {
        let now = now as f64;
        let skew = provider.validation.clock_skew_secs as f64;
        let until_exp = token.exp.map_or(f64::INFINITY, |exp| exp - skew);
        let reuse_until = token.reuse_until.unwrap_or(f64::INFINITY);
        let expires_at = until_exp.min(reuse_until).min(now + self.max_ttl);
        if expires_at <= now {
            return;
        }
        // `now` is whole seconds; the wall clock is already the fraction of
        // a second further on, which the eviction clock must not overshoot.
        let fraction = f64::from(crate::clock::since_epoch().subsec_nanos()) / 1e9;
        let lifetime = Duration::from_secs_f64((expires_at - now - fraction).max(0.0));
        let entry = Entry { token, expires_at, lifetime };
        self.metrics.inserted(self.weigher.weigh(&entry));
        self.entries.insert(CacheKey { digest: digest.0, provider: provider.id }, entry);
    }

    /// Counts one Check's lookup (over all its candidate providers).
    pub(crate) fn record_lookup(&self, hit: bool) {
        self.metrics.lookup(hit);
    }

    /// Entries currently held (approximate).
    pub(crate) fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }
}

#[cfg(test)]
mod tests;
