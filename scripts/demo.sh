#!/usr/bin/env bash
# One-command local demo, no identity provider and no cluster needed:
#   - a dev ES256 signing key and its JWKS (gatehouse dev keygen),
#   - gatehouse on 127.0.0.1 reading that JWKS,
#   - a small upstream that echoes the headers it receives (gatehouse dev echo),
#   - Envoy 1.40 with deploy/envoy/sidecar.yaml in front of both.
# Prints a token and the curl lines that show allow, 401 and 403, then runs
# until Ctrl-C and cleans up. Ports can be moved with DEMO_*_PORT variables.
#
# DEMO_ONCE=1: check instead of serving: free ports unless DEMO_*_PORT says
# otherwise, exit 0 only if every shown request got the expected answer, and
# stop. scripts/test.sh runs it so; scripts/fresh-machine.sh runs it so on an
# empty machine.
set -euo pipefail
cd "$(dirname "$0")/.."

ONCE="${DEMO_ONCE:-0}"
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
default_port() { # the interactive default, or a free port in DEMO_ONCE mode
  if [ "$ONCE" = 1 ]; then free_port; else echo "$1"; fi
}
LISTEN_PORT="${DEMO_LISTEN_PORT:-$(default_port 8080)}"
GRPC_PORT="${DEMO_GRPC_PORT:-$(default_port 9001)}"
OPS_PORT="${DEMO_OPS_PORT:-$(default_port 9090)}"
UPSTREAM_PORT="${DEMO_UPSTREAM_PORT:-$(default_port 8081)}"
ADMIN_PORT="${DEMO_ADMIN_PORT:-$(default_port 9901)}"
WORK=.tmp/demo
mkdir -p "$WORK"

if ! command -v curl >/dev/null; then
  # The demo shows its requests as curl lines; a bare machine may lack it.
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "== installing curl (Debian package)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null; }
  else
    echo "the demo shows its requests with curl; please install it" >&2
    exit 1
  fi
fi
ENVOY="${ENVOY_BIN:-$(scripts/ensure-tools.sh)/envoy}"
echo "== building gatehouse"
cargo build --quiet --locked --bin gatehouse
# Wherever cargo builds (CARGO_TARGET_DIR, a config file, or ./target).
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps --locked \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
BIN="$TARGET_DIR/debug/gatehouse"

"$BIN" dev keygen --alg ES256 --kid demo-1 --out-dir "$WORK" >/dev/null

cat > "$WORK/gatehouse.yaml" <<YAML
server:
  grpc_addr: 127.0.0.1:${GRPC_PORT}
  http_addr: 127.0.0.1:${OPS_PORT}
providers:
  - name: local
    issuer: https://gatehouse.local
    audiences: [orders-api]
    algorithms: [ES256]
    jwks: { file: ${WORK}/jwks.json }
    claims_to_headers:
      - { claim: sub, header: x-user-id }
      - { claim: scope, header: x-user-scope }
rules:
  - match: { path_prefix: /public }
    allow: anonymous
  - match: { path_prefix: /orders }
    require: { scopes_all: [orders:read] }
  - match: { path_prefix: / }
    require: {}
bypass_cors_preflight: true
YAML
"$BIN" check-config --config "$WORK/gatehouse.yaml" >/dev/null

# The sidecar config as shipped, with the ports of this demo on its `# test:` lines.
sed -E \
  -e "s/port_value: [0-9]+ \}  # test:admin_port/port_value: ${ADMIN_PORT} }  # test:admin_port/" \
  -e "s/port_value: [0-9]+ \}  # test:listen_port/port_value: ${LISTEN_PORT} }  # test:listen_port/" \
  -e "s/port_value: [0-9]+ \}  # test:gatehouse_port/port_value: ${GRPC_PORT} }  # test:gatehouse_port/" \
  -e "s/port_value: [0-9]+ \}  # test:upstream_port/port_value: ${UPSTREAM_PORT} }  # test:upstream_port/" \
  -e "s/cluster_name: gatehouse_uds \}  # test:gatehouse_cluster/cluster_name: gatehouse }  # test:gatehouse_cluster/" \
  deploy/envoy/sidecar.yaml > "$WORK/envoy.yaml"

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

"$BIN" --log-level warn serve --config "$WORK/gatehouse.yaml" & PIDS+=($!)
"$BIN" dev echo --addr "127.0.0.1:${UPSTREAM_PORT}" & PIDS+=($!)
"$ENVOY" -c "$WORK/envoy.yaml" --use-dynamic-base-id --concurrency 1 --log-level warn \
  > "$WORK/envoy.log" 2>&1 & PIDS+=($!)

wait_for() { # url
  for _ in $(seq 1 150); do
    if curl -fs "$1" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for $1 (Envoy log: $WORK/envoy.log)" >&2
  exit 1
}
wait_for "http://127.0.0.1:${OPS_PORT}/readyz"
wait_for "http://127.0.0.1:${ADMIN_PORT}/ready"

TOKEN=$("$BIN" dev mint --key "$WORK/signing-key.json" --sub alice --aud orders-api --scope "orders:read")
WRITER=$("$BIN" dev mint --key "$WORK/signing-key.json" --sub bob --aud orders-api --scope "orders:write")
URL="http://127.0.0.1:${LISTEN_PORT}"

FAILED=0
show() { # description, expected status, then the curl arguments as one shell string using $TOKEN / $WRITER
  echo
  echo "## $1"
  echo "\$ curl -si $3"
  local reply
  reply=$(eval "curl -si $3")
  echo "$reply" | sed -e 's/^/  /' | head -25
  local status
  status=$(echo "$reply" | head -1 | cut -d' ' -f2)
  if [ "$status" != "$2" ]; then
    echo "!! expected HTTP $2, got ${status:-no answer}"
    FAILED=1
  fi
  LAST_REPLY=$reply
}

echo
echo "== a token for alice with scope orders:read (valid 1h):"
echo "TOKEN=$TOKEN"
echo "WRITER=$WRITER   # bob, scope orders:write"
echo "URL=$URL"
show "allowed: the upstream sees x-user-id, not the token" 200 '-H "Authorization: Bearer $TOKEN" $URL/orders/42'
echo "$LAST_REPLY" | grep -q '"x-user-id": "alice"' || { echo "!! the upstream did not see x-user-id: alice"; FAILED=1; }
echo "$LAST_REPLY" | grep -qi '"authorization"' && { echo "!! the token reached the upstream"; FAILED=1; }
show "401: no token" 401 '$URL/orders/42'
echo "$LAST_REPLY" | grep -qi '^www-authenticate: Bearer' || { echo "!! no WWW-Authenticate challenge"; FAILED=1; }
show "403: bob's token lacks orders:read" 403 '-H "Authorization: Bearer $WRITER" $URL/orders/42'
show "anonymous route: a forged x-user-id never reaches the upstream" 200 '-H "x-user-id: admin" $URL/public/info'
echo "$LAST_REPLY" | grep -q '"x-user-id"' && { echo "!! a forged x-user-id reached the upstream"; FAILED=1; }
if [ "$ONCE" = 1 ]; then
  echo
  if [ "$FAILED" = 0 ]; then echo "demo: every request got the expected answer"; else echo "demo: FAILED"; fi
  exit "$FAILED"
fi
[ "$FAILED" = 0 ] || echo "!! some answers were not the expected ones (see above)"
echo
echo "Envoy listens on $URL; gatehouse metrics: http://127.0.0.1:${OPS_PORT}/metrics"
echo "Mint more tokens: $BIN dev mint --key $WORK/signing-key.json --sub carol --aud orders-api --scope orders:read"
echo "Press Ctrl-C to stop."
wait
