//! The test kit: everything gatehouse's integration tests, benchmarks, load
//! tooling and fuzz seeds need beside gatehouse itself, written once.
//!
//! - [`tokens`]: signing keys and the tokens a test IdP issues;
//! - [`check`]: CheckRequests as Envoy sends them, assertions on the answers;
//! - [`config`]: the configs tests share;
//! - [`served`]: gatehouse served in-process on 127.0.0.1:0;
//! - [`ops`]: its `/readyz` and `/metrics` as tests read them;
//! - [`process`]: the built binary run as a process;
//! - [`redis`]: a real Redis the test starts, kills and restarts;
//! - [`idp`]: a controllable identity provider (JWKS, discovery);
//! - [`envoy`]: the pinned Envoy and its shipped configs;
//! - [`render`]: the shipped proxy configs with test ports;
//! - [`stack`]: a real proxy (Envoy, nginx, Traefik) in front of the built
//!   binary, with the IdP and the echo upstream.
//!
//! Signing keys, the CheckRequest builder and the echo upstream are
//! gatehouse's own (its `dev` commands use them too), re-exported here.

pub mod check;
pub mod config;
pub mod envoy;
pub mod idp;
pub mod ops;
pub mod process;
pub mod redis;
pub mod render;
pub mod served;
pub mod stack;
pub mod tokens;

use std::path::PathBuf;

pub use check::{assert_overwrites, denied, header, ok, raw_request, request};
pub use config::{specs, CorpConfig};
pub use gatehouse::internals::{
    echo_router, jwks_json, unix_now, Algorithm, CheckRequestBuilder, SigningKey,
};
pub use served::{Checker, Gatehouse};
pub use tokens::{
    active_answer, bearer, claims, es256_key, inline_jwks, opaque_token, random_key, token, token_with,
    typed_token, AS_ISSUER, AUDIENCE, ISSUER,
};

/// The repository's root directory (the shipped configs are found from it).
pub fn repo_root() -> PathBuf {
    let kit = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    kit.parent().map(PathBuf::from).unwrap_or(kit)
}

/// A pinned tool the test script installs into `.venv` (Envoy, kubectl,
/// kubernetes-validate, Traefik): `$env` if set, else `.venv/bin/<name>`. Panics when
/// missing: a test that needs it must fail, never skip.
pub fn pinned_tool(env: &str, name: &str) -> PathBuf {
    let path = match std::env::var_os(env).filter(|p| !p.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => repo_root().join(".venv/bin").join(name),
    };
    assert!(
        path.exists(),
        "{name} not found at {}: run scripts/test.sh (it installs the pinned tools into .venv) or set {env}",
        path.display()
    );
    path
}

/// A tool from a Debian package the test script installs (`redis-server`,
/// `promtool`): `$env` if set, else `name` on `PATH`. Panics when missing: a
/// test that needs it must fail, never skip.
pub fn system_tool(env: &str, name: &str, package: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.exists());
    found.unwrap_or_else(|| {
        panic!("{name} not found: install Debian's `{package}` (scripts/test.sh does) or set {env}")
    })
}

/// The `gatehouse` binary of this build: `GATEHOUSE_BIN`, else the one Cargo
/// built beside the running test or benchmark (`target/<profile>/gatehouse`,
/// the test itself being in `target/<profile>/deps/`). Panics when missing:
/// a test that needs it must fail, never skip.
pub fn gatehouse_bin() -> PathBuf {
    let path = match std::env::var_os("GATEHOUSE_BIN").filter(|p| !p.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => {
            let exe = std::env::current_exe().expect("the running test's path");
            let profile_dir =
                exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps/<test>");
            profile_dir.join(format!("gatehouse{}", std::env::consts::EXE_SUFFIX))
        }
    };
    assert!(
        path.exists(),
        "the gatehouse binary is not at {} (build it, or set GATEHOUSE_BIN)",
        path.display()
    );
    path
}
