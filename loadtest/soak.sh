#!/usr/bin/env bash
# The soak (docs/PERFORMANCE.md "Soak"): gatehouse behind Envoy 1.40 under
# steady load for SOAK_DURATION seconds (600) while the signing key rotates
# every SOAK_ROTATE s (30), the config file is rewritten every SOAK_RELOAD s
# (20) and a revocation arrives every SOAK_REVOKE s (10) through the admin API
# and Redis. Fails on any failed request or wrong answer, and unless RSS, open
# fds and threads stay flat after the warm-up (SOAK_WARMUP, 60 s).
# Everything on 127.0.0.1. Results: stdout and $SOAK_WORK/soak.md (samples in
# samples.json).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${SOAK_WORK:-$PWD/target/soak}

# shellcheck source=loadtest/prepare.sh
source loadtest/prepare.sh

exec "$TOOLS/python" loadtest/soak.py "${COMMON_ARGS[@]}" \
  --redis "$(command -v redis-server || echo /usr/bin/redis-server)" \
  --duration "${SOAK_DURATION:-600}" \
  --rotate "${SOAK_ROTATE:-30}" \
  --reload "${SOAK_RELOAD:-20}" \
  --revoke "${SOAK_REVOKE:-10}" \
  --warmup "${SOAK_WARMUP:-60}"
