//! The pinned Envoy binary and its configs (`deploy/envoy/*.yaml`, rendered
//! by [`crate::render`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::repo_root;

/// The Envoy binary: `ENVOY_BIN`, else `<crate>/.venv/bin/envoy`. Panics (a
/// missing Envoy must fail the suite, never skip it).
pub fn envoy_bin() -> PathBuf {
    crate::pinned_tool("ENVOY_BIN", "envoy")
}

/// `deploy/envoy/<name>`.
pub fn deploy_config(name: &str) -> PathBuf {
    repo_root().join("deploy/envoy").join(name)
}

/// A free TCP port on 127.0.0.1 (see [`crate::process::free_addr`]).
pub fn free_port() -> u16 {
    crate::process::free_addr().port()
}

/// `envoy --mode validate -c <config>`: (success, stdout + stderr).
pub fn envoy_validate(config: &Path) -> (bool, String) {
    let output = Command::new(envoy_bin())
        .args(["--mode", "validate", "--log-level", "warn", "-c"])
        .arg(config)
        .stdin(Stdio::null())
        .output()
        .expect("run envoy --mode validate");
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}
