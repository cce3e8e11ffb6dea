//! Static API keys from a watched YAML file: a list of
//! `{ key_sha256: <hex>, claims: { sub: .., scope: .. } }`.
//!
//! The file holds only the SHA-256 of each key, never the key. A lookup
//! finds the candidates by the first eight bytes of the presented key's
//! digest and compares the whole digest in constant time. The file is
//! re-read when it changes (a removed line stops the key within a poll
//! interval); a rewrite that does not parse keeps the previous keys and is
//! logged, as a half-written file would be.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use arc_swap::ArcSwap;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::metrics::KeyMetrics;
use crate::watch::{FileStamp, POLL_INTERVAL};

/// Most entries one file may hold.
const MAX_API_KEYS: usize = 100_000;

/// Why an API-key file was refused. Never holds a key (the file has none).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiKeysError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Yaml { path: PathBuf, source: serde_yaml_ng::Error },
    #[error("{path}: entry {index}: {problem}")]
    Entry { path: PathBuf, index: usize, problem: &'static str },
    #[error("{path}: more than {MAX_API_KEYS} entries")]
    TooMany { path: PathBuf },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    key_sha256: String,
    #[serde(default)]
    claims: Map<String, Value>,
}

/// A known key: its digest, its claims and a fingerprint of both, which a
/// cached verification is checked against (an edited or removed entry
/// drops what was cached for it).
struct Known {
    digest: [u8; 32],
    claims: Arc<Map<String, Value>>,
    fingerprint: u64,
}

/// One version of the file.
#[derive(Default)]
pub(crate) struct ApiKeyTable {
    by_prefix: HashMap<u64, Vec<Known>>,
    fingerprints: HashSet<u64>,
    len: usize,
}

/// A key that matched: its claims and the fingerprint of its entry.
pub(crate) struct ApiKeyMatch {
    pub(crate) claims: Arc<Map<String, Value>>,
    pub(crate) fingerprint: u64,
}

impl ApiKeyTable {
    /// Parses a file's text; `path` only names it in errors.
    fn parse(path: &Path, text: &str) -> Result<Self, ApiKeysError> {
        let entries: Vec<FileEntry> = serde_yaml_ng::from_str(text)
            .map_err(|source| ApiKeysError::Yaml { path: path.to_owned(), source })?;
        if entries.len() > MAX_API_KEYS {
            return Err(ApiKeysError::TooMany { path: path.to_owned() });
        }
        let mut table = ApiKeyTable::default();
        for (index, entry) in entries.into_iter().enumerate() {
            let problem = |problem| ApiKeysError::Entry { path: path.to_owned(), index, problem };
            let digest = parse_digest(&entry.key_sha256)
                .ok_or_else(|| problem("`key_sha256` must be 64 hex digits (the SHA-256 of the key)"))?;
            if entry.claims.get("sub").is_some_and(|sub| !sub.is_string()) {
                return Err(problem("`claims.sub` must be a string"));
            }
            if table.lookup(&digest).is_some() {
                return Err(problem("the same key is listed twice"));
            }
            let fingerprint = fingerprint(&digest, &entry.claims);
            table.fingerprints.insert(fingerprint);
            table.by_prefix.entry(prefix(&digest)).or_default().push(Known {
                digest,
                claims: Arc::new(entry.claims),
                fingerprint,
            });
            table.len += 1;
        }
        Ok(table)
    }

    /// The entry whose digest equals `digest`, compared in constant time.
    pub(crate) fn lookup(&self, digest: &[u8; 32]) -> Option<ApiKeyMatch> {
        let candidates = self.by_prefix.get(&prefix(digest))?;
        candidates
            .iter()
            .find(|known| aws_lc_rs::constant_time::verify_slices_are_equal(&known.digest, digest).is_ok())
            .map(|known| ApiKeyMatch { claims: known.claims.clone(), fingerprint: known.fingerprint })
    }

    /// True while an entry with this fingerprint is in the file.
    pub(crate) fn contains_fingerprint(&self, fingerprint: u64) -> bool {
        self.fingerprints.contains(&fingerprint)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

fn prefix(digest: &[u8; 32]) -> u64 {
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(head)
}

fn parse_digest(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (byte, pair) in digest.iter_mut().zip(hex.chunks(2)) {
        let text = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(text, 16).ok()?;
    }
    Some(digest)
}

/// Identifies an entry's digest and claims together (not a secret: the
/// digest is in the file already).
fn fingerprint(digest: &[u8; 32], claims: &Map<String, Value>) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    digest.hash(&mut hasher);
    Value::Object(claims.clone()).to_string().hash(&mut hasher);
    hasher.finish()
}

/// The lower-case hex SHA-256 of `key`: what a file entry holds.
pub(crate) fn key_sha256_hex(key: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// One provider's API-key file, kept current.
pub(crate) struct ApiKeys {
    provider: String,
    path: PathBuf,
    table: ArcSwap<ApiKeyTable>,
    metrics: Arc<KeyMetrics>,
}

impl ApiKeys {
    /// Reads the file now (missing or invalid is a start-up error) and
    /// starts watching it when a Tokio runtime is running.
    pub(crate) fn start(
        provider: &str,
        path: PathBuf,
        metrics: Arc<KeyMetrics>,
    ) -> Result<Arc<Self>, ApiKeysError> {
        let table = read(&path)?;
        metrics.api_keys_loaded(provider, table.len());
        let keys = Arc::new(Self {
            provider: provider.to_owned(),
            path,
            table: ArcSwap::from_pointee(table),
            metrics,
        });
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(watch(Arc::downgrade(&keys)));
        }
        Ok(keys)
    }

    /// The file as last read. Never blocks, never does I/O.
    pub(crate) fn current(&self) -> Arc<ApiKeyTable> {
        self.table.load_full()
    }
}

fn read(path: &Path) -> Result<ApiKeyTable, ApiKeysError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ApiKeysError::Io { path: path.to_owned(), source })?;
    ApiKeyTable::parse(path, &text)
}

async fn watch(keys: Weak<ApiKeys>) {
    let mut last = keys.upgrade().and_then(|k| FileStamp::of(&k.path));
    loop {
        tokio::time::sleep(POLL_INTERVAL).await;
        let Some(strong) = keys.upgrade() else { return };
        let now = FileStamp::of(&strong.path);
        if now.is_none() || now == last {
            continue;
        }
        match read(&strong.path) {
            Ok(table) => {
                strong.metrics.api_keys_loaded(&strong.provider, table.len());
                tracing::info!(provider = %strong.provider, keys = table.len(), "API key file reloaded");
                strong.table.store(Arc::new(table));
                last = now;
            }
            Err(error) => {
                tracing::warn!(provider = %strong.provider, %error, "API key file unusable, keeping the previous keys")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(key: &str) -> [u8; 32] {
        parse_digest(&key_sha256_hex(key)).unwrap()
    }

    #[test]
    fn finds_a_key_by_its_digest_and_nothing_else() {
        let text = format!(
            "- key_sha256: {}\n  claims: {{ sub: partner-1, scope: \"orders:read\" }}\n- key_sha256: {}\n",
            key_sha256_hex("key-one"),
            key_sha256_hex("key-two").to_uppercase()
        );
        let table = ApiKeyTable::parse(Path::new("keys.yaml"), &text).unwrap();
        assert_eq!(table.len(), 2);
        let found = table.lookup(&digest("key-one")).unwrap();
        assert_eq!(found.claims.get("sub"), Some(&Value::from("partner-1")));
        assert!(table.contains_fingerprint(found.fingerprint));
        assert!(table.lookup(&digest("key-two")).is_some());
        for other in ["key-onE", "key-one ", "key-on", ""] {
            assert!(table.lookup(&digest(other)).is_none(), "{other:?}");
        }
    }

    #[test]
    fn refuses_bad_entries_naming_them_without_key_material() {
        let good = key_sha256_hex("k");
        for (text, expected) in [
            ("- key_sha256: abc\n".to_owned(), "entry 0: `key_sha256` must be 64 hex digits"),
            (
                format!("- key_sha256: {good}\n- key_sha256: {good}\n"),
                "entry 1: the same key is listed twice",
            ),
            (format!("- key_sha256: {good}\n  claims: {{ sub: 7 }}\n"), "`claims.sub` must be a string"),
            (format!("- key_sha256: {good}\n  key: k\n"), "unknown field `key`"),
            ("{}".to_owned(), "keys.yaml"),
        ] {
            let error = ApiKeyTable::parse(Path::new("keys.yaml"), &text).err().expect(&text).to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn an_edited_entry_has_a_new_fingerprint() {
        let d = digest("k");
        let mut claims = Map::new();
        claims.insert("sub".into(), "a".into());
        let before = fingerprint(&d, &claims);
        claims.insert("scope".into(), "admin".into());
        assert_ne!(before, fingerprint(&d, &claims));
    }
}
