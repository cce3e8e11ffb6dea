//! Compiles the protobuf subset in `proto/` with a pure-Rust compiler (protox),
//! so building gatehouse never needs a system `protoc`; and records the git
//! revision and build profile that `gatehouse --version` and
//! `gatehouse_build_info` report.

use std::process::Command;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const ROOTS: &[&str] = &["envoy/service/auth/v3/external_auth.proto"];
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(ROOTS, ["proto"])?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(descriptors)?;
    record_build_identity();
    Ok(())
}

/// `GATEHOUSE_GIT_REVISION` (set it where there is no `.git`, e.g. in the
/// image build), else `git rev-parse`, else `unknown`; the Cargo profile.
fn record_build_identity() {
    println!("cargo:rerun-if-env-changed=GATEHOUSE_GIT_REVISION");
    // A new commit moves the branch ref; a checkout moves HEAD.
    for path in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let revision = std::env::var("GATEHOUSE_GIT_REVISION")
        .ok()
        .filter(|revision| !revision.trim().is_empty())
        .or_else(git_revision)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=GATEHOUSE_GIT_REVISION={}", revision.trim());
    let profile = std::env::var("PROFILE").unwrap_or_else(|_| "unknown".to_owned());
    println!("cargo:rustc-env=GATEHOUSE_BUILD_PROFILE={profile}");
}

fn git_revision() -> Option<String> {
    let output = Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output().ok()?;
    let revision = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !revision.trim().is_empty()).then(|| revision.trim().to_owned())
}
