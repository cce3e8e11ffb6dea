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
#   5. the sidecar's ways of asking: gRPC over TCP and over a Unix socket,
#      http_service over h2c and over an HTTP/1.1 pool, each with the shipped
#      `allowed_headers` (what gatehouse reads) and gRPC/h2c also with every
#      header sent;
#   plus idle RSS, RSS with 1M distinct cached tokens (examples/rss_tokens.rs)
#   and the server-side p99 of a cache hit from gatehouse's own histogram.
#
# Every request through a proxy, and the framed direct Check, is the realistic
# one (load.py's REALISTIC_HEADERS: ~15 browser headers, a 1 KB cookie, beside
# the bearer token); CPU per request is reported for every server process.
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
WORK=${BENCH_WORK:-$PWD/target/bench}

# shellcheck source=loadtest/prepare.sh
source loadtest/prepare.sh

exec "$TOOLS/python" loadtest/load.py "${COMMON_ARGS[@]}" \
  --gatehouse-system "$ROOT/target/release/examples/gatehouse_system" \
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
