#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests.
# Usage: scripts/test.sh      (CI runs exactly this through .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (warnings are errors)"
cargo clippy --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --all-targets --locked
