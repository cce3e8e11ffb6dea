//! `revocation.file`: revocations kept in a file (for teams without Redis),
//! re-read when it changes. A YAML list of what `POST /v1/revocations`
//! takes; an unreadable or invalid rewrite keeps the previous entries.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use super::entry::{Origin, Revocation, RevocationRequest};
use super::store::Revocations;
use super::{RevocationSpec, StartError};
use crate::watch::{FileStamp, POLL_INTERVAL};

/// Reads the file now (a missing or invalid file is a start-up error) and watches it.
pub(super) fn start(
    path: PathBuf,
    revocations: Arc<Revocations>,
    spec: RevocationSpec,
) -> Result<(), StartError> {
    let stamp = FileStamp::of(&path);
    let entries = read(&path, &spec).map_err(|message| StartError::File { path: path.clone(), message })?;
    revocations.replace_file_entries(entries);
    tokio::spawn(watch(path, Arc::downgrade(&revocations), spec, stamp));
    Ok(())
}

async fn watch(
    path: PathBuf,
    revocations: Weak<Revocations>,
    spec: RevocationSpec,
    mut last: Option<FileStamp>,
) {
    loop {
        tokio::time::sleep(POLL_INTERVAL).await;
        let Some(strong) = revocations.upgrade() else { return };
        let now = FileStamp::of(&path);
        if now.is_none() || now == last {
            continue;
        }
        match read(&path, &spec) {
            Ok(entries) => {
                tracing::info!(path = %path.display(), entries = entries.len(), "revocation file reloaded");
                strong.replace_file_entries(entries);
                last = now;
            }
            Err(message) => {
                tracing::warn!(path = %path.display(), message, "revocation file invalid; keeping its previous entries")
            }
        }
    }
}

/// The file's entries; the first problem found, with the entry's index.
fn read(path: &Path, spec: &RevocationSpec) -> Result<Vec<Revocation>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let requests: Vec<RevocationRequest> = serde_yaml_ng::from_str(&text).map_err(|e| e.to_string())?;
    let now = crate::clock::unix_now();
    let expiry = |issuer: &str, issued_before: u64| super::default_expiry(spec, issuer, issued_before);
    let mut entries = Vec::with_capacity(requests.len());
    for (index, request) in requests.into_iter().enumerate() {
        if !spec.issuers.iter().any(|i| i.issuer == request.issuer) {
            return Err(format!("[{index}]: unknown issuer `{}`", request.issuer));
        }
        match request.into_entry(now, Origin::File, expiry) {
            Ok(entry) => entries.push(entry),
            // An entry that has run its course is no error in a file kept for months.
            Err(super::entry::RequestError::Expired) => {}
            Err(error) => return Err(format!("[{index}]: {error}")),
        }
    }
    Ok(entries)
}
