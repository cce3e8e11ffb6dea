//! Noticing that a file changed, by polling: a `stat` a second is cheap, works
//! on every file system, and follows the symlink swap a Kubernetes ConfigMap
//! or Secret update makes (which inotify on the old path would miss).

use std::path::Path;
use std::time::{Duration, SystemTime};

/// How often watched files are checked.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// What tells one version of a file from the next: modification time and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileStamp {
    modified: SystemTime,
    len: u64,
}

impl FileStamp {
    /// The file's stamp now, or `None` while it cannot be read.
    pub(crate) fn of(path: &Path) -> Option<Self> {
        let meta = std::fs::metadata(path).ok()?;
        Some(Self { modified: meta.modified().ok()?, len: meta.len() })
    }
}
