#!/usr/bin/env bash
# One-command local demo, no identity provider and no cluster needed:
#   - a dev ES256 signing key and its JWKS (gatehouse dev keygen),
#   - gatehouse on 127.0.0.1 reading that JWKS,
#   - a small upstream that echoes the headers it receives (gatehouse dev echo),
#   - Envoy 1.40 with deploy/envoy/sidecar.yaml in front of both.
# Prints a token and the curl lines that show allow, 401 and 403, then runs
# until Ctrl-C and cleans up. Ports can be moved with DEMO_*_PORT variables.
set -euo pipefail
cd "$(dirname "$0")/.."

LISTEN_PORT="${DEMO_LISTEN_PORT:-8080}"
GRPC_PORT="${DEMO_GRPC_PORT:-9001}"
OPS_PORT="${DEMO_OPS_PORT:-9090}"
UPSTREAM_PORT="${DEMO_UPSTREAM_PORT:-8081}"
ADMIN_PORT="${DEMO_ADMIN_PORT:-9901}"
WORK=.tmp/demo
mkdir -p "$WORK"

command -v curl >/dev/null || { echo "the demo shows its requests with curl; please install it" >&2; exit 1; }
ENVOY="${ENVOY_BIN:-$(scripts/ensure-tools.sh)/envoy}"
echo "== building gatehouse"
cargo build --quiet --bin gatehouse
BIN=target/debug/gatehouse

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

show() { # description, then the curl arguments as one shell string using $TOKEN / $WRITER
  echo
  echo "## $1"
  echo "\$ curl -si $2"
  eval "curl -si $2" | sed -e 's/^/  /' | head -25
}

echo
echo "== a token for alice with scope orders:read (valid 1h):"
echo "TOKEN=$TOKEN"
echo "WRITER=$WRITER   # bob, scope orders:write"
echo "URL=$URL"
show "allowed: the upstream sees x-user-id, not the token" '-H "Authorization: Bearer $TOKEN" $URL/orders/42'
show "401: no token" '$URL/orders/42'
show "403: bob's token lacks orders:read" '-H "Authorization: Bearer $WRITER" $URL/orders/42'
show "anonymous route: a forged x-user-id never reaches the upstream" '-H "x-user-id: admin" $URL/public/info' 
echo
echo "Envoy listens on $URL; gatehouse metrics: http://127.0.0.1:${OPS_PORT}/metrics"
echo "Mint more tokens: $BIN dev mint --key $WORK/signing-key.json --sub carol --aud orders-api --scope orders:read"
echo "Press Ctrl-C to stop."
wait
